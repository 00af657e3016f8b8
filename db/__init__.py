"""moelab.db: the DuckDB file. Schema, migrations, bulk writes, read-only queries, export.

Imports nothing else of moelab; every SQL string of the project lives in this package.
"""

from .connection import open_store
from .errors import DiskFull, QueryRefused, StoreError, StoreLocked
from .export import export_data
from .migrations import PUBLIC_VIEWS
from .paths import resolve_db_path
from .readonly import check_read_only, open_read_only, run_read_query
from .store import Store

__all__ = [
    "DiskFull",
    "PUBLIC_VIEWS",
    "QueryRefused",
    "Store",
    "StoreError",
    "StoreLocked",
    "check_read_only",
    "export_data",
    "open_read_only",
    "open_store",
    "resolve_db_path",
    "run_read_query",
]
