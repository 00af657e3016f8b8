"""Bulk writes of finished runs: chunk dicts -> arrow tables -> one INSERT ... SELECT each."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import numpy as np
import pyarrow as pa

from .errors import StoreError
from .migrations import CHUNK_TABLES, STORE_FILLED

_VIEW_NAME = "_moelab_chunk"  # the arrow table registered for the duration of one INSERT


def table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Column -> type of each internal table: the migrations are the one source of truth."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'store' "
        "ORDER BY table_name, column_index"
    ).fetchall()
    columns: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        if column not in STORE_FILLED:
            columns.setdefault(table, {})[column] = kind
    return columns


def prepare_chunk(
    chunk: Mapping[str, Mapping[str, object]], columns: Mapping[str, Mapping[str, str]]
) -> dict[str, pa.Table]:
    """Validate one chunk and convert each of its tables to arrow (outside the transaction)."""
    if not isinstance(chunk, Mapping) or "runs" not in chunk:
        raise StoreError("a chunk must be a dict with at least a 'runs' table")
    unknown = sorted(set(chunk) - set(CHUNK_TABLES))
    if unknown:
        raise StoreError(
            f"unknown chunk table(s) {', '.join(unknown)}; expected {', '.join(CHUNK_TABLES)}"
        )
    tables = {name: _to_table(name, cols, columns[name]) for name, cols in chunk.items()}
    n_runs = tables["runs"].num_rows
    runs_index = tables["runs"].column("local_index").to_numpy()
    if not np.array_equal(np.sort(runs_index), np.arange(n_runs)):
        raise StoreError(f"runs.local_index must be 0..{n_runs - 1}, each exactly once")
    for name, table in tables.items():
        index = table.column("local_index").to_numpy()
        if index.size and (index.min() < 0 or index.max() >= n_runs):
            raise StoreError(f"{name}.local_index refers to a run outside 0..{n_runs - 1}")
    return tables


def insert_chunks(
    con: duckdb.DuckDBPyConnection, experiment_id: int, chunks: list[dict[str, pa.Table]]
) -> list[int]:
    """Insert prepared chunks inside the caller's transaction; run_id = offset + local_index."""
    next_id = con.execute("SELECT COALESCE(MAX(run_id), 0) + 1 FROM store.runs").fetchall()[0][0]
    run_ids: list[int] = []
    for tables in chunks:
        n_runs = tables["runs"].num_rows
        for name, table in tables.items():
            _insert(con, name, table, next_id, experiment_id if name == "runs" else None)
        run_ids.extend(range(next_id, next_id + n_runs))
        next_id += n_runs
    return run_ids


def _insert(
    con: duckdb.DuckDBPyConnection,
    name: str,
    table: pa.Table,
    first_id: int,
    experiment_id: int | None,
) -> None:
    if table.num_rows == 0:
        return
    # Column names were checked against the schema in _to_table, so quoting them is safe.
    data = [f'"{c}"' for c in table.column_names if c != "local_index"]
    targets = ["run_id", *data]
    values = ["local_index + ?", *data]
    params: list[object] = [first_id]
    if experiment_id is not None:
        targets.insert(1, "experiment_id")
        values.insert(1, "?")
        params.append(experiment_id)
    sql = (
        f"INSERT INTO store.{name} ({', '.join(targets)}) "
        f"SELECT {', '.join(values)} FROM {_VIEW_NAME}"
    )
    con.register(_VIEW_NAME, table)
    try:
        con.execute(sql, params).fetchall()
    finally:
        con.unregister(_VIEW_NAME)


def _to_table(name: str, cols: Mapping[str, object], schema: Mapping[str, str]) -> pa.Table:
    if not isinstance(cols, Mapping) or "local_index" not in cols:
        raise StoreError(f"chunk table '{name}' needs a 'local_index' column")
    unknown = sorted(c for c in cols if c != "local_index" and c not in schema)
    if unknown:
        raise StoreError(
            f"chunk table '{name}' has unknown column(s) {', '.join(unknown)}; "
            f"the store knows {', '.join(schema)}"
        )
    arrays = {}
    for column, values in cols.items():
        kind = "BIGINT" if column == "local_index" else schema[column]
        try:
            arrays[column] = _to_arrow(values, kind)
        except (TypeError, ValueError, pa.ArrowException) as err:
            raise StoreError(
                f"chunk column {name}.{column} cannot be stored as {kind}: {err}"
            ) from err
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise StoreError(f"chunk table '{name}' has columns of different lengths {sorted(lengths)}")
    return pa.table(arrays)


def _to_arrow(values: object, kind: str) -> pa.Array:
    if kind.endswith("[]"):
        return _list_array(values)
    if kind.startswith("TIMESTAMP"):
        return _timestamp_array(values)
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    if kind in ("DOUBLE", "FLOAT"):
        values = np.asarray(values, dtype=np.float64)
    if kind == "BIGINT" and isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        values = values.astype(np.int64, copy=False)
    # from_pandas=True turns NaN into NULL: a missing metric reads as NULL in SQL.
    return pa.array(values, from_pandas=True)


def _list_array(values: object) -> pa.Array:
    # Weights keep NaN inside the list (a diverged run should look diverged, not shorter).
    if isinstance(values, np.ndarray) and values.ndim == 2:
        rows, width = values.shape
        flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
        offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int64))
        return pa.LargeListArray.from_arrays(offsets, flat)
    rows = [None if v is None else np.asarray(v, dtype=np.float32).reshape(-1) for v in values]
    return pa.array(rows, type=pa.large_list(pa.float32()))


def _timestamp_array(values: object) -> pa.Array:
    array = values if isinstance(values, np.ndarray) else None
    if array is None and all(v is None or isinstance(v, (int, float)) for v in values):
        array = np.asarray(values, dtype=np.float64)
    if array is None:  # python datetimes
        return pa.array(values, type=pa.timestamp("us"))
    if array.dtype.kind == "M":
        return pa.array(array.astype("datetime64[us]"), from_pandas=True)
    # Float epoch seconds (what time.time() gives the engine); NaN means not recorded.
    seconds = array.astype(np.float64)
    missing = np.isnan(seconds)
    micros = np.where(missing, 0, np.round(seconds * 1e6)).astype(np.int64)
    return pa.array(micros, type=pa.timestamp("us"), mask=missing)
