"""Export a public view or a guarded query to Parquet or CSV with duckdb's COPY."""

from __future__ import annotations

import os
import pathlib

import duckdb

from .errors import StoreError, wrap
from .migrations import PUBLIC_VIEWS
from .readonly import check_read_only, statement_body
from .store import Store

__all__ = ["PUBLIC_VIEWS", "export_data"]

_FORMATS = {".parquet": "(FORMAT parquet)", ".csv": "(FORMAT csv, HEADER true)"}


def export_data(store: Store, view_or_query: str, out: str | os.PathLike[str]) -> int:
    """Write a view (by name) or a read-only query to `out`; returns the rows written."""
    out = pathlib.Path(out).expanduser().absolute()
    options = _FORMATS.get(out.suffix.lower())
    if options is None:
        raise StoreError(f"unsupported export format '{out.suffix}'; use .parquet or .csv")
    if not out.parent.is_dir():
        raise StoreError(f"output directory {out.parent} does not exist; create it first")
    if not os.access(out.parent, os.W_OK):
        raise StoreError(f"output directory {out.parent} is not writable; pick another path")
    if out.is_dir():
        raise StoreError(f"{out} is a directory; give a file name ending in .parquet or .csv")

    name = view_or_query.strip().lower()
    if name in PUBLIC_VIEWS:
        source = f"SELECT * FROM {name}"
    else:
        check_read_only(view_or_query)
        source = statement_body(view_or_query)
    target = str(out).replace("'", "''")
    # Newlines around the query so a trailing `-- comment` cannot swallow the parenthesis.
    sql = f"COPY (\n{source}\n) TO '{target}' {options}"
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.COPY:
        raise StoreError("cannot export this query; write it as one plain SELECT")

    cursor = store._cursor()
    try:
        return int(cursor.execute(sql).fetchall()[0][0])
    except duckdb.Error as err:
        raise wrap(err, f"exporting to {out}") from err
    finally:
        cursor.close()
