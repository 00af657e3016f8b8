"""The Python API: `lab = moelab.open("lab.duckdb")` for notebooks and scripts.

A Lab is one more client of the database, like the TUI and the CLI: through the lab service
when one runs on the file (it holds the only connection), else straight from the file,
read-only, opened for each call and closed after it (so a service may start meanwhile).
Tables come as one Arrow stream either way (db/reads/dynamics.py arrow_query) and are
handed over as pandas (default), Arrow or polars. See docs/api.md for a worked example.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from moelab.lab_figures import FiguresMixin

Format = Literal["pandas", "arrow", "polars"]
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Weights:
    """A run's weights, expert first: W[e] is expert e's (d_hidden × n_features) matrix."""
    run_id: int
    step: int | None  # None: the final weights; else a snapshot step
    W: np.ndarray  # (n_experts, d_hidden, n_features)
    b: np.ndarray  # (n_experts, n_features)
    router: np.ndarray | None  # (n_experts, n_features); None for a dense model

    @property
    def n_experts(self) -> int:
        return self.W.shape[0]

    def expert(self, e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(W_e, b_e, router row e) of expert e."""
        return self.W[e], self.b[e], None if self.router is None else self.router[e]


class Lab(FiguresMixin):
    """One lab database. Use as a context manager, or call close(). Figures and the phase
    grid: moelab/lab_figures.py."""

    def __init__(self, path: str | os.PathLike | None = None):
        from moelab.engine.service.paths import resolve_db
        # A file that does not exist yet is fine: queue() starts a service that creates it.
        self.path: Path = resolve_db(None if path is None else str(path))
        self._service = None

    # -- tables ------------------------------------------------------------------------------
    def runs(self, where: str | None = None, columns: Sequence[str] | str | None = None,
             experiment: int | None = None, order_by: str = "run_id",
             limit: int | None = None, format: Format = "pandas") -> Any:
        """Rows of the runs view: `where` is a SQL condition (`"k > 1 AND chosen"`),
        `columns` a list of column names or SQL expressions (default: every column but
        the config JSON, which is long; ask for "config" by name)."""
        if columns is None:
            cols = "* EXCLUDE (config)"
        else:
            cols = columns if isinstance(columns, str) else ", ".join(columns)
        conds = [f"({where})"] if where else []
        if experiment is not None:
            conds.append(f"experiment_id = {int(experiment)}")
        sql = f"SELECT {cols} FROM runs"
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.sql(sql, format=format)

    def sql(self, query: str, format: Format = "pandas") -> Any:
        """Any read-only query of the lab's views (the guard of `moelab sql` applies)."""
        from moelab.db.reads.dynamics import arrow_table, read_arrow_file
        with self._client() as client:
            if hasattr(client, "request"):  # the service: one Arrow file, private, handed over
                table = read_arrow_file(client.read("arrow_file", sql=query))
            else:  # the file, read here: no stream to encode
                table = arrow_table(client._store, query)
        return _as(table, format)

    def experiments(self, format: Format = "pandas") -> Any:
        return self.sql("SELECT * EXCLUDE (config) FROM experiments ORDER BY experiment_id",
                        format=format)

    def experiment(self, experiment_id: int) -> dict | None:
        """One experiment's row (status, message, progress, config...), None if unknown."""
        with self._client() as client:
            return client.read("experiment", experiment_id=int(experiment_id))

    def weights(self, run_id: int, step: int | None = None) -> Weights:
        """A run's final weights, or its snapshot at `step` (see lab.snapshot_steps)."""
        source = "weights" if step is None else "snapshots"
        at = "" if step is None else f" AND s.step = {int(step)}"
        t = self.sql(
            f"SELECT s.expert, s.W, s.b, s.router, r.kind, r.n_features, r.d_hidden "
            f"FROM {source} s JOIN runs r ON r.run_id = s.run_id "
            f"WHERE s.run_id = {int(run_id)}{at} ORDER BY s.expert", format="arrow")
        if t.num_rows == 0:
            what = "run" if step is None else f"snapshot at step {step} of run"
            raise KeyError(f"no {what} {run_id}")
        n, m = t.column("n_features")[0].as_py(), t.column("d_hidden")[0].as_py()
        E = t.num_rows
        W, b, router = (_stack(t.column(c), E) for c in ("W", "b", "router"))
        dense = t.column("kind")[0].as_py() == "dense"
        return Weights(int(run_id), step, W.reshape(E, m, n), b.reshape(E, n),
                       None if dense else router.reshape(E, n))

    def snapshot_steps(self, run_id: int) -> list[int]:
        with self._client() as client:
            return client.read("snapshot_steps", run_id=int(run_id))

    def dynamics(self, run_id: int, format: Format = "pandas") -> Any:
        """A run's metrics at every snapshot step (the dynamics view)."""
        return self.sql(f"SELECT * FROM dynamics WHERE run_id = {int(run_id)} "
                        "ORDER BY step, expert, feature", format=format)

    def custom_metrics(self, name: str | None = None, format: Format = "pandas") -> Any:
        where = "" if name is None else f" WHERE name = '{_quoted(name)}'"
        return self.sql(f"SELECT * FROM custom_metrics{where} ORDER BY run_id, name, "
                        "expert, feature", format=format)

    # -- training ----------------------------------------------------------------------------
    def queue(self, preset_or_config: str | os.PathLike | dict, quick: bool = False,
              name: str | None = None, set: Sequence[str] = (),
              sweep: Sequence[str] = ()) -> int:
        """Queue an experiment on the lab service (started if none runs): a preset name,
        a TOML file, a config dict ([model] [data] [train] [sweep]) or a Config, with
        `set` / `sweep` overrides as `moelab queue --set/--sweep` takes them. Returns its
        experiment id; wait(id) follows it."""
        from moelab.engine.config import Config, load_toml, with_overrides
        from moelab.engine.presets import PRESETS
        preset = None
        if isinstance(preset_or_config, Config):
            from moelab.engine.config_stored import raw_from_config
            raw = raw_from_config(preset_or_config)
            name = name or preset_or_config.name
        elif isinstance(preset_or_config, dict):
            raw = dict(preset_or_config)
        elif str(preset_or_config) in PRESETS:
            preset = str(preset_or_config)
            raw = PRESETS[preset].raw(quick)
        else:
            raw = load_toml(preset_or_config)
        raw = with_overrides(raw, list(set), list(sweep))
        return int(self._service_client(start=True).submit(raw, preset=preset, quick=quick,
                                                           name=name))

    def wait(self, experiment_id: int, timeout: float | None = None,
             poll: float = 0.5) -> dict:
        """Block until the experiment is done, failed or cancelled; its row. TimeoutError
        after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.experiment(experiment_id)
            if row is None:
                raise KeyError(f"no experiment {experiment_id}")
            if row["status"] in FINISHED:
                return row
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {experiment_id} is still {row['status']} "
                                   f"after {timeout} s")
            time.sleep(poll)

    # -- plumbing ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        service = self._service_client(start=False)
        if service is not None:
            yield service
            return
        from moelab.engine.client import DirectClient
        with DirectClient(self.path) as direct:
            yield direct

    def _service_client(self, start: bool):
        from moelab.engine.service.client import ServiceUnavailable, connect
        if self._service is not None:
            try:
                self._service.request("ping")
                return self._service
            except ServiceUnavailable:
                self._service.close()
                self._service = None
        client = connect(self.path, autostart=start)
        if hasattr(client, "request"):
            self._service = client
            return client
        client.close()  # a DirectClient: no service runs
        return None

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab({str(self.path)!r})"


def open(path: str | os.PathLike | None = None) -> Lab:  # noqa: A001 - moelab.open
    """The lab database at path (default: $MOELAB_DB, else ./moelab.duckdb)."""
    return Lab(path)


def _as(table, format: Format) -> Any:
    if format == "arrow":
        return table
    if format == "polars":
        import polars as pl
        return pl.from_arrow(table)
    if format == "pandas":
        return table.to_pandas()
    raise ValueError(f"format must be pandas, arrow or polars, not {format!r}")


def _stack(column, rows: int) -> np.ndarray:
    """A column of equal-length float lists as one (rows, width) float32 array."""
    array = column.combine_chunks()
    return array.flatten().to_numpy(zero_copy_only=False).reshape(rows, -1)


def _quoted(text: str) -> str:
    return str(text).replace("'", "''")
