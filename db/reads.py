"""Named reads: the queries behind CLI tables, TUI panels and figures.

Each read is `fn(store, **params) -> JSON-able value`, registered by name, so the lab
service can answer `read(name, params)` for clients that cannot open the locked file, and
the same function serves a direct read-only connection when no service runs.
Modules with more reads register into READS at import (see the end of this file).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from .errors import StoreError
from .readonly import run_read_query
from .store import Store

READS: dict[str, Callable[..., Any]] = {}


def register_read(name: str):
    def deco(fn):
        READS[name] = fn
        return fn
    return deco


def read(store: Store, name: str, **params) -> Any:
    if name not in READS:
        raise StoreError(f"unknown read {name!r}; known: {', '.join(sorted(READS))}")
    try:
        return READS[name](store, **params)
    except TypeError as e:
        raise StoreError(f"bad parameters for read {name!r}: {e}") from None


def plain(value: Any) -> Any:
    """A DuckDB value as JSON-able data (timestamps as ISO text, NaN as None)."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def nan_as_null(column: str) -> str:
    """SQL for a column with NaN as NULL: per-expert usages given monosemantic features are
    NaN for an expert that has none, and averages must skip them."""
    return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"


def rows_as_dicts(names: list[str], rows: list) -> list[dict]:
    return [{n: plain(v) for n, v in zip(names, r, strict=True)} for r in rows]


@register_read("experiments")
def experiments(store: Store) -> list[dict]:
    return [{k: plain(v) for k, v in e.items()} for e in store.experiments()]


@register_read("experiment")
def experiment(store: Store, experiment_id: int) -> dict | None:
    e = store.experiment(int(experiment_id))
    return None if e is None else {k: plain(v) for k, v in e.items()}


@register_read("runs_table")
def runs_table(store: Store, columns: str = "*", where: str | None = None,
               order_by: str = "run_id", limit: int = 1000) -> dict:
    """Rows of the runs view under a user's SQL condition (guarded as read-only SQL)."""
    query = f"SELECT {columns} FROM runs"
    if where:
        query += f" WHERE {where}"
    query += f" ORDER BY {order_by}"
    names, rows = run_read_query(store, query, limit=int(limit))
    return {"columns": names, "rows": [[plain(v) for v in r] for r in rows]}


# Reads of other modules register themselves on import.
from . import (  # noqa: E402,F401
    reads_columns,
    reads_compare,
    reads_crosscoder,
    reads_dynamics,
    reads_experts,
    reads_fidelity,
    reads_figures,
    reads_lens,
    reads_panels,
    reads_phase,
    reads_phase_layers,
    reads_service,
)
