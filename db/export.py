"""Export a public view or a guarded query to Parquet or CSV, written by Python (pyarrow).

DuckDB never writes the file (it cannot: external access is off for the whole process, see
connection.py). The query runs like any user query (guard, time limit, interrupts), its rows
stream out in Arrow batches, and the file appears whole or not at all: written to a private
temporary file beside the target, then renamed over it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pathlib
import tempfile

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import StoreError
from .migrations import PUBLIC_VIEWS
from .readonly import check_read_only, statement_body
from .store import Store
from .userquery import QueryLimits, UserQuery

__all__ = ["PUBLIC_VIEWS", "export_data"]

_FORMATS = (".parquet", ".csv")
BATCH_ROWS = 65_536
_NESTED = ("list", "array", "struct", "map", "union")


def export_data(store: Store, view_or_query: str, out: str | os.PathLike[str],
                timeout: float | None = None) -> int:
    """Write a view (by name) or a read-only query to `out`; returns the rows written."""
    out = pathlib.Path(out).expanduser().absolute()
    fmt = out.suffix.lower()
    if fmt not in _FORMATS:
        raise StoreError(f"unsupported export format '{out.suffix}'; use .parquet or .csv")
    if not out.parent.is_dir():
        raise StoreError(f"output directory {out.parent} does not exist; create it first")
    if not os.access(out.parent, os.W_OK):
        raise StoreError(f"output directory {out.parent} is not writable; pick another path")
    if out.is_dir():
        raise StoreError(f"{out} is a directory; give a file name ending in .parquet or .csv")

    name = view_or_query.strip().lower()
    if name in PUBLIC_VIEWS:
        sql = f"SELECT * FROM {name}"
    else:
        check_read_only(view_or_query)
        sql = statement_body(view_or_query)
    query = UserQuery(store, sql, timeout=timeout or QueryLimits.from_env().export_timeout)
    return query.stream(lambda cursor: _write(cursor, sql, fmt, out))


def _write(cursor: duckdb.DuckDBPyConnection, sql: str, fmt: str, out: pathlib.Path) -> int:
    if fmt == ".csv":
        sql = _flat_for_csv(cursor, sql)
    reader = cursor.sql(sql).to_arrow_reader(BATCH_ROWS)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    rows = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            writer = (pq.ParquetWriter(fh, reader.schema) if fmt == ".parquet"
                      else _csv_writer(fh, reader.schema))
            with writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, out)  # replaces a link at `out` itself, never what it points to
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        reader.close()  # the cursor's transaction cannot end while a result is open
    return rows


def _csv_writer(fh, schema) -> pacsv.CSVWriter:
    # pyarrow quotes every header name; the csv module quotes only those that need it.
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(schema.names)
    fh.write(text.getvalue().encode())
    return pacsv.CSVWriter(fh, schema, write_options=pacsv.WriteOptions(include_header=False))


def _flat_for_csv(cursor: duckdb.DuckDBPyConnection, sql: str) -> str:
    """CSV has no lists or structs: such columns become their text form, as DuckDB prints
    them (`[0.1, 0.2]`)."""
    relation = cursor.sql(sql)
    nested = [n for n, t in zip(relation.columns, relation.types, strict=True)
              if t.id in _NESTED]
    if not nested:
        return sql
    replace = ", ".join(f'CAST("{_quote(n)}" AS VARCHAR) AS "{_quote(n)}"' for n in nested)
    # Newlines keep a trailing `-- comment` in the body from swallowing the parenthesis.
    return f"SELECT * REPLACE ({replace}) FROM (\n{sql}\n) AS q"


def _quote(name: str) -> str:
    return name.replace('"', '""')


def _current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
