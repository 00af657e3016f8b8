"""The Store: the one object that reads and writes a moelab database file."""

from __future__ import annotations

import contextlib
import pathlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from . import bulk
from .clock import utc_now
from .errors import StoreError, wrap

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled")

_EXPERIMENT_COLUMNS = (
    "experiment_id, name, preset, created_at, config, status, message, quick, device, "
    "started_at, finished_at, progress, owner, n_runs, runs_stored, n_units, units_stored"
)



class Store:
    """A connection to one database file. Thread-safe: calls are serialised by a lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: pathlib.Path, read_only: bool):
        self._con: duckdb.DuckDBPyConnection | None = con
        self._lock = threading.RLock()
        self._columns: dict[str, dict[str, str]] | None = None
        self.path = path
        self.read_only = read_only

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"the store for {self.path} is closed")
        return self._con

    def _writable(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only; writes go through the lab service")
        return self._live()

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the lock; any failure rolls everything back."""
        with self._lock:
            con = self._writable()
            try:
                con.begin()
                yield con
                con.commit()
            except BaseException as err:
                with contextlib.suppress(duckdb.Error):
                    con.rollback()
                if isinstance(err, duckdb.Error):
                    raise wrap(err, doing) from err
                raise

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # A cursor has its own transaction context, so a read can be rolled back on its own.
        with self._lock:
            return self._live().cursor()

    # -- experiments -----------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        preset: str | None,
        config: str,
        status: str = "queued",
        quick: bool = False,
    ) -> int:
        _check_status(status)
        with self._transaction("creating an experiment") as con:
            new_id = con.execute(
                "SELECT COALESCE(MAX(experiment_id), 0) + 1 FROM store.experiments"
            ).fetchall()[0][0]
            now = utc_now()
            con.execute(
                "INSERT INTO store.experiments (experiment_id, name, preset, created_at, config, "
                "status, quick, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [new_id, name, preset, now, config, status, bool(quick),
                 now if status == "running" else None],
            ).fetchall()
        return int(new_id)

    def set_experiment_status(
        self,
        experiment_id: int,
        status: str,
        message: str | None = None,
        device: str | None = None,
        progress: float | None = None,
        owner: str | None = None,
    ) -> None:
        """Change the status; None leaves message/device/progress as they were. The owner
        (who trains it) is set while running and cleared on every other status."""
        _check_status(status)
        now = utc_now()
        if progress is None and status == "done":
            progress = 1.0
        with self._transaction("updating the experiment status") as con:
            _require_experiment(con, experiment_id)
            # started_at keeps the first start; finished_at is cleared when work resumes.
            con.execute(
                "UPDATE store.experiments SET status = ?, "
                "message = COALESCE(?, message), device = COALESCE(?, device), "
                "progress = COALESCE(?, progress), "
                "owner = CASE WHEN ? = 'running' THEN COALESCE(?, owner) ELSE NULL END, "
                "started_at = CASE WHEN ? THEN COALESCE(started_at, ?) ELSE started_at END, "
                "finished_at = CASE WHEN ? THEN ? WHEN ? THEN NULL ELSE finished_at END "
                "WHERE experiment_id = ?",
                [status, message, device, progress, status, owner,
                 status == "running", now,
                 status in FINISHED, now, status in ("queued", "running"),
                 experiment_id],
            ).fetchall()

    def set_progress(self, experiment_id: int, progress: float, device: str | None = None) -> None:
        """A running experiment's progress (0..1); leaves its status alone."""
        with self._transaction("saving progress") as con:
            con.execute("UPDATE store.experiments SET progress = ?, device = COALESCE(?, device) "
                        "WHERE experiment_id = ? AND status = 'running'",
                        [progress, device, experiment_id]).fetchall()

    def experiment(self, experiment_id: int) -> dict[str, Any] | None:
        rows = self._dicts(
            f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?",
            [experiment_id],
        )
        return rows[0] if rows else None

    def experiments(self) -> list[dict[str, Any]]:
        return self._dicts(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments ORDER BY experiment_id")

    # -- runs ------------------------------------------------------------------------------
    def write_runs(
        self, experiment_id: int, chunks: Sequence[dict[str, dict[str, object]]]
    ) -> list[int]:
        """Store finished runs atomically; returns their run_ids in local_index order."""
        columns = self.chunk_columns()
        prepared = [bulk.prepare_chunk(chunk, columns) for chunk in chunks]
        with self._transaction("storing runs") as con:
            _require_experiment(con, experiment_id)
            return bulk.insert_chunks(con, experiment_id, prepared)

    def write_unit(
        self,
        experiment_id: int,
        unit_index: int,
        chunk: dict[str, dict[str, object]],
        meta: dict[str, object] | None = None,
        point_sizes: dict[int, int] | None = None,
    ) -> list[int] | None:
        """Store one finished work unit in one transaction: its runs, its units row, the
        best seed of every sweep point it completes (point -> planned runs), and, when it
        is the experiment's last unit, the experiment as done. Returns the new run_ids, or
        None when this unit was already stored (nothing is written twice)."""
        from . import units
        prepared = bulk.prepare_chunk(chunk, self.chunk_columns())
        with self._transaction("storing a unit of runs") as con:
            _require_experiment(con, experiment_id)
            if units.is_stored(con, experiment_id, unit_index):
                return None
            run_ids = units.insert_unit(con, experiment_id, unit_index, prepared, meta or {})
            units.choose_best(con, experiment_id, point_sizes or {})
            units.finish_if_complete(con, experiment_id)
            return run_ids

    def set_plan(self, experiment_id: int, n_runs: int, n_units: int, unit_work: float) -> None:
        """Record how many runs and units the experiment trains as, and the unit size it was
        planned with (kept for life, so every restart plans the same units); an experiment
        with no units left to train is done at once."""
        from . import units
        with self._transaction("recording the experiment's plan") as con:
            _require_experiment(con, experiment_id)
            con.execute("UPDATE store.experiments SET n_runs = ?, n_units = ?, "
                        "unit_work = COALESCE(unit_work, ?) WHERE experiment_id = ?",
                        [n_runs, n_units, unit_work, experiment_id]).fetchall()
            units.finish_if_complete(con, experiment_id)

    def unit_work(self, experiment_id: int) -> float | None:
        """The unit size the experiment was first planned with (None before its first run)."""
        _, rows = self.query("SELECT unit_work FROM store.experiments WHERE experiment_id = ?",
                             [experiment_id])
        return rows[0][0] if rows else None

    def stored_units(self, experiment_id: int) -> set[int]:
        _, rows = self.query("SELECT unit_index FROM store.units WHERE experiment_id = ?",
                             [experiment_id])
        return {int(r[0]) for r in rows}

    def chunk_columns(self) -> dict[str, dict[str, str]]:
        """Column name -> DuckDB type of each internal table, read from the file itself."""
        with self._lock:
            if self._columns is None:
                self._columns = bulk.table_columns(self._live())
            return self._columns

    # -- queries ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[object] | None = None) -> tuple[list[str], list]:
        """Unrestricted query for moelab's own code (never pass user SQL here)."""
        with self._lock:
            con = self._live()
            try:
                cur = con.execute(sql, params)
                names = [d[0] for d in cur.description] if cur.description else []
                return names, cur.fetchall()
            except duckdb.Error as err:
                raise wrap(err, "query") from err

    def query_columns(self, sql: str, params: Sequence[object] | None = None
                      ) -> dict[str, list]:
        """A result as column name -> list of values (NULL as None), for numbers, booleans
        and text: fetched column by column, 4-5 times faster than rows of Python objects for
        the 20,000-cell reads of the TUI."""
        with self._lock:
            con = self._live()
            try:
                columns = con.execute(sql, params).fetchnumpy()
            except duckdb.Error as err:
                raise wrap(err, "query") from err
        return {name: values.tolist() for name, values in columns.items()}

    def _dicts(self, sql: str, params: Sequence[object] | None = None) -> list[dict[str, Any]]:
        names, rows = self.query(sql, params)
        return [dict(zip(names, row, strict=True)) for row in rows]


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise StoreError(f"unknown experiment status {status!r}; use one of {', '.join(STATUSES)}")


def _require_experiment(con: duckdb.DuckDBPyConnection, experiment_id: int) -> None:
    found = con.execute(
        "SELECT count(*) FROM store.experiments WHERE experiment_id = ?", [experiment_id]
    ).fetchall()[0][0]
    if not found:
        raise StoreError(f"no experiment with id {experiment_id}")
