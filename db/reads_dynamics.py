"""Reads of issue 14 (registered into db.reads.READS): the Python API's Arrow path, training
dynamics, MoE Lens and the custom-metric registry.

`arrow_query` answers a guarded read-only query as one Arrow IPC stream (base64 text in the
JSON reply): 100,000 runs travel as one compressed buffer instead of millions of JSON values.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from .readonly import statement_body
from .reads import plain, register_read, rows_as_dicts
from .reads_figures import SETUP_COLUMNS
from .store import Store
from .userquery import UserQuery

if TYPE_CHECKING:
    import pyarrow as pa

ARROW_COMPRESSION = "lz4"  # fast on both ends; the socket is local


@register_read("arrow_query")
def arrow_query(store: Store, sql: str, timeout: float | None = None) -> dict:
    """A read-only query's whole result as base64 Arrow IPC (no row cap: the caller asked
    for a table; the time limit and the guard still hold)."""
    table = arrow_table(store, sql, timeout)
    return {"arrow": base64.b64encode(to_ipc(table)).decode("ascii"),
            "rows": table.num_rows}


def arrow_table(store: Store, sql: str, timeout: float | None = None) -> pa.Table:
    """The same as an Arrow table, for a caller that holds the store (no service runs)."""
    query = UserQuery(store, statement_body(str(sql)), timeout=timeout)
    return query.stream(lambda cursor: _arrow(cursor.sql(query.sql)))


def _arrow(relation) -> pa.Table:
    # DuckDB 2 names it to_arrow_table; before, arrow()
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def to_ipc(table: pa.Table) -> bytes:
    import pyarrow as pa  # here: the other reads must not pay for it
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=ARROW_COMPRESSION)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(payload: dict) -> pa.Table:
    import pyarrow as pa
    return pa.ipc.open_stream(base64.b64decode(payload["arrow"])).read_all()


@register_read("snapshot_steps")
def snapshot_steps(store: Store, run_id: int) -> list[int]:
    _, rows = store.query("SELECT DISTINCT step FROM snapshots WHERE run_id = ? ORDER BY step",
                          [int(run_id)])
    return [int(r[0]) for r in rows]


@register_read("snapshot_weights")
def snapshot_weights(store: Store, run_id: int, step: int) -> dict:
    """W (d_hidden × n_features, row-major), b and router per expert of a run at a snapshot
    step, with the step's per-feature dynamics: what the run screen redraws at that step."""
    names, rows = store.query(
        "SELECT s.expert, r.n_features, r.d_hidden, s.W, s.b, s.router "
        "FROM snapshots s JOIN runs r ON r.run_id = s.run_id "
        "WHERE s.run_id = ? AND s.step = ? ORDER BY s.expert", [int(run_id), int(step)])
    features = rows_as_dicts(*store.query(
        "SELECT expert, feature, norm, superposition, dimensionality, monosemantic, usage, "
        "route_fraction, loss FROM dynamics WHERE run_id = ? AND step = ? "
        "ORDER BY expert, feature", [int(run_id), int(step)]))
    return {"experts": rows_as_dicts(names, rows), "features": features}


@register_read("dynamics_curves")
def dynamics_curves(store: Store, run_id: int) -> dict:
    """A run's per-feature metrics at every snapshot and its features' specialisation
    steps: what `export figure dynamics` draws."""
    names, rows = store.query(
        "SELECT step, expert, feature, norm, superposition, monosemantic, usage, loss "
        "FROM dynamics WHERE run_id = ? ORDER BY expert, feature, step", [int(run_id)])
    curves = {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}
    spec = rows_as_dicts(*store.query(
        "SELECT feature, expert, step FROM specialization WHERE run_id = ? ORDER BY feature",
        [int(run_id)]))
    return {"curves": curves, "specialization": spec}


@register_read("dynamics_runs")
def dynamics_runs(store: Store, experiment_id: int, chosen_only: bool = True) -> list[dict]:
    """Runs of an experiment that have snapshots, with their setup (to pick one to draw)."""
    cols = ", ".join(f"r.{c}" for c in SETUP_COLUMNS)
    chosen = " AND r.chosen" if chosen_only else ""
    return rows_as_dicts(*store.query(
        f"SELECT r.run_id, {cols}, r.seed, r.sparsity, r.eval_loss FROM runs r "
        "WHERE r.experiment_id = ? AND EXISTS (SELECT 1 FROM store.dynamics_runs d "
        f"WHERE d.run_id = r.run_id){chosen} ORDER BY r.run_id", [int(experiment_id)]))


@register_read("lens_runs")
def lens_runs(store: Store, experiment_id: int, chosen_only: bool = False) -> dict:
    """MoE Lens per run of an experiment, with its setup and sparsity, as columns."""
    cols = ", ".join(f"r.{c}" for c in SETUP_COLUMNS)
    chosen = " AND r.chosen" if chosen_only else ""
    names, rows = store.query(
        f"SELECT r.run_id, {cols}, round(r.sparsity, 6) AS sparsity, l.top_share, "
        "l.top_quarter_share, l.routing_entropy, l.top1_cosine, l.top1_loss_ratio, "
        "(SELECT max(ablation_loss_ratio) FROM lens_experts a WHERE a.run_id = r.run_id) "
        "AS max_ablation_ratio "
        "FROM runs r JOIN lens l ON l.run_id = r.run_id "
        f"WHERE r.experiment_id = ?{chosen} ORDER BY r.run_id", [int(experiment_id)])
    return {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}


@register_read("lens_run")
def lens_run(store: Store, run_id: int) -> dict | None:
    """One run's MoE Lens: the run's numbers and each expert's usage and ablation loss
    (the Experts view)."""
    run = rows_as_dicts(*store.query("SELECT * FROM lens WHERE run_id = ?", [int(run_id)]))
    if not run:
        return None
    experts = rows_as_dicts(*store.query(
        "SELECT a.expert, e.usage, e.route_fraction, a.ablation_loss, a.ablation_loss_ratio "
        "FROM lens_experts a LEFT JOIN experts e ON e.run_id = a.run_id AND "
        "e.expert = a.expert WHERE a.run_id = ? ORDER BY a.expert", [int(run_id)]))
    return {**run[0], "experts": experts}


@register_read("metric_registry")
def metric_registry(store: Store) -> list[dict]:
    """The registered custom metrics: name, target, options (a dict), path."""
    out = rows_as_dicts(*store.query(
        "SELECT name, target, options, path FROM store.metric_registry ORDER BY name"))
    for row in out:
        row["options"] = json.loads(row["options"] or "{}")
    return out
