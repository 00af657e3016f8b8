"""moelab.db: the DuckDB file. Schema, migrations, bulk writes, read-only queries, export.

Imports nothing else of moelab; every SQL string of the project lives in this package.
The names below load their module on first use, so a command that only checks a query
(`moelab sql` refusing `UPDATE EXTENSIONS` without a service) does not pay for numpy and
pyarrow (bulk writes): add a new public name to _WHERE.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "DiskFull": "errors",
    "PUBLIC_VIEWS": "migrations",
    "QueryRefused": "errors",
    "Store": "store",
    "StoreError": "errors",
    "StoreLocked": "errors",
    "check_read_only": "readonly",
    "export_data": "export",
    "open_read_only": "readonly",
    "open_store": "connection",
    "resolve_db_path": "paths",
    "run_read_query": "userquery",
}
__all__ = [  # the keys of _WHERE (tests/test_safety_sql.py checks they agree)
    "DiskFull", "PUBLIC_VIEWS", "QueryRefused", "Store", "StoreError", "StoreLocked",
    "check_read_only", "export_data", "open_read_only", "open_store", "resolve_db_path",
    "run_read_query",
]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .connection import open_store
    from .errors import DiskFull, QueryRefused, StoreError, StoreLocked
    from .export import export_data
    from .migrations import PUBLIC_VIEWS
    from .paths import resolve_db_path
    from .readonly import check_read_only, open_read_only
    from .store import Store
    from .userquery import run_read_query
