"""Named reads: the queries behind CLI tables, TUI panels and figures.

Each read is `fn(store, **params) -> JSON-able value`, registered by name, so the lab
service can answer `read(name, params)` for clients that cannot open the locked file, and
the same function serves a direct read-only connection when no service runs.
Every reads_*.py registers into the leaf registry (db/registry.py); importing this module
loads them all, so READS is complete.
"""

from __future__ import annotations

from .registry import READS, plain, read, register_read, rows_as_dicts  # noqa: F401
from .store import Store


@register_read("experiments")
def experiments(store: Store) -> list[dict]:
    return [{k: plain(v) for k, v in e.items()} for e in store.experiments()]


@register_read("experiment")
def experiment(store: Store, experiment_id: int) -> dict | None:
    e = store.experiment(int(experiment_id))
    return None if e is None else {k: plain(v) for k, v in e.items()}


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
    reads_lm,
    reads_panels,
    reads_phase,
    reads_phase_layers,
    reads_service,
)
