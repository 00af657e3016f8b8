"""Storing an imported experiment (e.g. the authors' phase-diagram files) in one transaction:
the experiment row, its plan, one unit of runs per source, and its done status, so a failed
import leaves nothing behind. Used by `moelab import npz`, directly or inside the lab service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import bulk, units
from .clock import utc_now
from .store import Store


def store_imported(store: Store, name: str, preset: str, config: str,
                   chunks: Sequence[Mapping[str, Mapping[str, object]]],
                   meta: Mapping[str, object], message: str) -> int:
    """The new experiment's id; every chunk is one unit (checked before anything is
    written), the experiment is stored as done with `message`."""
    columns = store.chunk_columns()
    prepared = [bulk.prepare_chunk(chunk, columns) for chunk in chunks]
    n_runs = sum(t["runs"].num_rows for t in prepared)
    with store._transaction("importing an experiment") as con:
        eid = con.execute("SELECT COALESCE(MAX(experiment_id), 0) + 1 "
                          "FROM store.experiments").fetchall()[0][0]
        now = utc_now()
        con.execute(
            "INSERT INTO store.experiments (experiment_id, name, preset, created_at, config, "
            "status, quick, started_at, n_runs, n_units, unit_work) "
            "VALUES (?, ?, ?, ?, ?, 'running', false, ?, ?, ?, 0.0)",
            [eid, name, preset, now, config, now, n_runs, len(prepared)]).fetchall()
        for i, tables in enumerate(prepared):
            units.insert_unit(con, eid, i, tables, meta)
        con.execute(
            "UPDATE store.experiments SET status = 'done', message = ?, progress = 1.0, "
            "finished_at = ? WHERE experiment_id = ?", [message, utc_now(), eid]).fetchall()
    return int(eid)
