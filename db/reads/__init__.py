"""Named reads: the queries behind CLI tables, TUI panels and figures.

Each read is `fn(store, **params) -> JSON-able value`, registered by name, so the lab
service can answer `read(name, params)` for clients that cannot open the locked file, and
the same function serves a direct read-only connection when no service runs.
Every module of this package (db/reads/) registers into the leaf registry (db/registry.py);
importing the package loads them all, so READS is complete.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..registry import READS, plain, read, register_read, rows_as_dicts  # noqa: F401
from ..store import Store


@register_read("experiments")
def experiments(store: Store) -> list[dict]:
    return [{k: plain(v) for k, v in e.items()} for e in store.experiments()]


@register_read("experiment")
def experiment(store: Store, experiment_id: int) -> dict | None:
    e = store.experiment(int(experiment_id))
    return None if e is None else {k: plain(v) for k, v in e.items()}


# Every module of this package registers its reads on import: load them all, so that READS
# is complete (a new reads module needs no line here).
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
