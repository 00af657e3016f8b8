"""Storing one work unit: its runs, its `units` row, the best-of-seeds choice, and the end
of the experiment, all inside the caller's one transaction.

Called by Store.write_unit. A unit is stored whole or not at all; the units primary key
makes a second store of the same unit impossible (it is skipped, not duplicated), and the
unit that completes an experiment marks it done in the same transaction, so a crash can
never leave an experiment trained-and-stored but not done (or done twice).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from . import bulk
from .clock import utc_now


def is_stored(con: duckdb.DuckDBPyConnection, experiment_id: int, unit_index: int) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM store.units WHERE experiment_id = ? AND unit_index = ?",
        [experiment_id, unit_index]).fetchall()[0][0])


def insert_unit(con: duckdb.DuckDBPyConnection, experiment_id: int, unit_index: int,
                tables: dict[str, pa.Table], meta: Mapping[str, object]) -> list[int]:
    run_ids = bulk.insert_chunks(con, experiment_id, [tables])
    con.execute(
        "INSERT INTO store.units (experiment_id, unit_index, n_runs, first_run_id, device, "
        "worker, train_seconds, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [experiment_id, unit_index, len(run_ids), run_ids[0] if run_ids else None,
         meta.get("device"), meta.get("worker"), meta.get("train_seconds"), utc_now()],
    ).fetchall()
    con.execute(
        "UPDATE store.experiments SET runs_stored = COALESCE(runs_stored, 0) + ?, "
        "units_stored = COALESCE(units_stored, 0) + 1 WHERE experiment_id = ?",
        [len(run_ids), experiment_id]).fetchall()
    return run_ids


def choose_best(con: duckdb.DuckDBPyConnection, experiment_id: int,
                point_sizes: Mapping[int, int]) -> None:
    """Mark the best seed (lowest eval loss; lowest seed on a tie) of each sweep point whose
    seeds are now all stored; points still missing seeds keep chosen = false."""
    if not point_sizes:
        return
    points = pa.table({"point": list(point_sizes), "planned": list(point_sizes.values())})
    con.register("_moelab_points", points)
    try:
        con.execute(
            "UPDATE store.runs SET chosen = (r.rank = 1) FROM ("
            "  SELECT run_id, row_number() OVER (PARTITION BY runs.point "
            "         ORDER BY eval_loss ASC NULLS LAST, seed, run_id) AS rank,"
            "         count(*) OVER (PARTITION BY runs.point) AS have, p.planned"
            "  FROM store.runs runs JOIN _moelab_points p ON runs.point = p.point"
            "  WHERE runs.experiment_id = ?) r "
            "WHERE store.runs.run_id = r.run_id AND r.have = r.planned",
            [experiment_id]).fetchall()
    finally:
        con.unregister("_moelab_points")


def finish_if_complete(con: duckdb.DuckDBPyConnection, experiment_id: int) -> str | None:
    """Mark the experiment done when its last unit is stored; its summary line, else None."""
    row = con.execute(
        "SELECT n_units, units_stored FROM store.experiments WHERE experiment_id = ?",
        [experiment_id]).fetchall()[0]
    if row[0] is None or row[1] < row[0]:
        return None
    message = summary_line(con, experiment_id)
    con.execute(
        "UPDATE store.experiments SET status = 'done', message = ?, progress = 1.0, "
        "owner = NULL, finished_at = ? WHERE experiment_id = ?",
        [message, utc_now(), experiment_id]).fetchall()
    return message


def summary_line(con: duckdb.DuckDBPyConnection, experiment_id: int) -> str:
    n, chosen, lo, hi = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE chosen), min(eval_loss), max(eval_loss) "
        "FROM store.runs WHERE experiment_id = ?", [experiment_id]).fetchall()[0]
    seconds, devices = con.execute(
        "SELECT COALESCE(sum(train_seconds), 0), string_agg(DISTINCT device, ', ') "
        "FROM store.units WHERE experiment_id = ?", [experiment_id]).fetchall()[0]
    loss = f"{lo:.4g} .. {hi:.4g}" if lo is not None else "n/a"
    return (f"{n} runs ({chosen} chosen), eval loss {loss}, trained in {seconds:.1f} s "
            f"on {devices or 'n/a'}")
