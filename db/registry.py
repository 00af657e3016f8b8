"""The reads registry: a leaf module every reads_*.py registers into, so that no module
needs db/reads.py (which imports them all) and no import circle forms.

A read is `fn(store, **params) -> JSON-able value`, registered by name.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from .errors import StoreError
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
