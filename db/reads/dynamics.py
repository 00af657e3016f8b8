"""Reads of issue 14 (registered into db.registry.READS): the Python API's Arrow path, training
dynamics, MoE Lens and the custom-metric registry.

`arrow_file` answers a guarded read-only query as one Arrow IPC file handed to the client
(the socket is local): 100,000 runs travel as one buffer instead of millions of JSON values.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import secrets
import time
from typing import TYPE_CHECKING

from ..filemodes import UnsafeFile, open_private, open_private_dir
from ..readonly import statement_body
from ..registry import plain, register_read, rows_as_dicts
from ..store import Store
from ..userquery import UserQuery
from .figures import SETUP_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa


# A reply's file left behind (its client died before reading it) is removed by the next
# reply that finds it older than this.
ARROW_FILE_MAX_AGE = 600.0
_REPLY = re.compile(r"moelab-[0-9a-f]{24}\.arrow")

log = logging.getLogger("moelab.db")


@register_read("arrow_file")
def arrow_file(store: Store, sql: str, timeout: float | None = None) -> dict:
    """A read-only query's whole result (no row cap: the caller asked for a table; the guard
    and the time limit hold) as a private Arrow file (0600) that the caller reads and
    deletes. The socket is local, so the client is on this machine; base64 Arrow in the
    JSON reply took 1.2 s for 100,000 runs where the file takes 0.4 s."""
    import pyarrow as pa
    table = arrow_table(store, sql, timeout)
    folder, dir_fd = _arrow_folder()
    try:
        path = folder / f"moelab-{secrets.token_hex(12)}.arrow"
        # Created inside the folder we checked (dir_fd), never through a link.
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, dir_fd=dir_fd)
        try:
            with open(fd, "wb", closefd=True) as fh, pa.ipc.new_file(fh, table.schema) as writer:
                writer.write_table(table)
        except BaseException:
            os.unlink(path.name, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
    return {"path": str(path), "rows": table.num_rows}


_fallback_folder: pathlib.Path | None = None


def _arrow_folder() -> tuple[pathlib.Path, int]:
    """This user's private folder of reply files ($TMPDIR/moelab-arrow-UID, 0700), swept of
    files nobody came for, and a descriptor of it. Another user may have made that name
    first (to swap replies) or planted a link there (so that the sweep deletes files
    elsewhere): then a fresh private folder of this process's is used instead."""
    import tempfile
    global _fallback_folder
    folder = pathlib.Path(tempfile.gettempdir()) / f"moelab-arrow-{os.getuid()}"
    try:
        dir_fd = open_private_dir(folder, create=True)
    except (UnsafeFile, OSError) as err:
        if _fallback_folder is None:
            log.warning("moelab: %s; Arrow replies go to a private folder of their own instead",
                        err)
        dir_fd = _private_fallback()
        folder = _fallback_folder
    _sweep(dir_fd)
    return folder, dir_fd


def _private_fallback() -> int:
    import tempfile
    global _fallback_folder
    if _fallback_folder is not None:
        try:
            return open_private_dir(_fallback_folder)
        except (UnsafeFile, OSError):
            pass  # removed (or replaced) meanwhile: make another
    _fallback_folder = pathlib.Path(tempfile.mkdtemp(prefix=f"moelab-arrow-{os.getuid()}-"))
    return open_private_dir(_fallback_folder)


def _sweep(dir_fd: int) -> None:
    old = time.time() - ARROW_FILE_MAX_AGE
    for name in os.listdir(dir_fd):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if _REPLY.fullmatch(name) and st.st_mtime < old:
                os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass  # taken by its reader meanwhile


def read_arrow_file(payload: dict) -> pa.Table:
    """An arrow_file result, read and its file removed. The file must be a reply file in a
    private folder of ours: one swapped in by another user is refused, never read."""
    import mmap

    import pyarrow as pa
    path = pathlib.Path(str(payload["path"]))
    if not _REPLY.fullmatch(path.name):
        raise UnsafeFile(f"{path} is not an Arrow reply of the lab; refusing to read it")
    dir_fd = open_private_dir(path.parent)
    try:
        fd = open_private(path, os.O_RDONLY, dir_fd=dir_fd)
        try:
            data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        os.unlink(path.name, dir_fd=dir_fd)  # the mapping stays valid while we hold it
    finally:
        os.close(dir_fd)
    return pa.ipc.open_file(pa.py_buffer(data)).read_all()


def arrow_table(store: Store, sql: str, timeout: float | None = None) -> pa.Table:
    """The same as an Arrow table, for a caller that holds the store (no service runs)."""
    query = UserQuery(store, statement_body(str(sql)), timeout=timeout)
    return query.stream(lambda cursor: _arrow(cursor.sql(query.sql)))


def _arrow(relation) -> pa.Table:
    # DuckDB 2 names it to_arrow_table; before, arrow()
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


@register_read("snapshot_steps")
def snapshot_steps(store: Store, run_id: int) -> list[int]:
    _, rows = store.query("SELECT DISTINCT step FROM snapshots WHERE run_id = ? ORDER BY step",
                          [int(run_id)])
    return [int(r[0]) for r in rows]


@register_read("run_detail_at_step")
def run_detail_at_step(store: Store, run_id: int, step: int) -> dict | None:
    """What the run screen draws per expert (as run_detail's experts: W, gram, b, router,
    features, usage, route_fraction) at one snapshot step, with the run's snapshot steps
    and its loss there; None when the run has no snapshot at that step."""
    run_id, step = int(run_id), int(step)
    _, shape = store.query("SELECT n_features, d_hidden FROM runs WHERE run_id = ?", [run_id])
    if not shape:
        return None
    n, m = shape[0]
    _, weights = store.query("SELECT expert, W, b, router FROM snapshots WHERE run_id = ? AND "
                             "step = ? ORDER BY expert", [run_id, step])
    if not weights:
        return None
    rows = rows_as_dicts(*store.query(
        "SELECT expert, feature, norm, superposition, dimensionality, monosemantic, usage, "
        "route_fraction, loss FROM dynamics WHERE run_id = ? AND step = ? "
        "ORDER BY expert, feature", [run_id, step]))
    experts = []
    for expert, W, b, router in weights:
        Wm = [list(W[r * n:(r + 1) * n]) for r in range(m)]  # (d_hidden, n_features)
        gram = [[sum(Wm[r][i] * Wm[r][j] for r in range(m)) for j in range(n)]
                for i in range(n)]
        feats = [{**f, "bias": b[f["feature"]]} for f in rows if f["expert"] == expert]
        first = feats[0] if feats else {}
        experts.append({"expert": expert, "W": plain(Wm), "gram": plain(gram),
                        "b": plain(list(b)), "router": plain(list(router)),
                        "features": plain(feats), "usage": first.get("usage"),
                        "route_fraction": first.get("route_fraction"),
                        "n_monosemantic": sum(bool(f["monosemantic"]) for f in feats)})
    return {"step": step, "steps": snapshot_steps(store, run_id),
            "loss": rows[0]["loss"] if rows else None, "experts": experts}


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
