"""Reads behind the TUI panels (registered into db.registry.READS).

Every read returns plain JSON-able data, so the lab service can send it over its socket.
User SQL (a runs filter, a console query) always goes through the read-only guard.
"""

from __future__ import annotations

import json
import re

from ..errors import StoreError
from ..export import export_data
from ..readonly import check_read_only, statement_body
from ..registry import nan_as_null, plain, register_read, rows_as_dicts
from ..store import Store
from ..userquery import run_read_query

_PAGE_MAX = 5000


def _page_bounds(offset: int, limit: int) -> tuple[int, int]:
    offset, limit = int(offset), int(limit)
    if offset < 0 or not 0 < limit <= _PAGE_MAX:
        raise StoreError(f"a page needs offset >= 0 and 0 < limit <= {_PAGE_MAX}")
    return offset, limit


@register_read("experiments_panel")
def experiments_panel(store: Store) -> list[dict]:
    """Every experiment with its number of stored runs (n_runs) and of planned runs
    (n_planned: NULL until it first runs), newest first."""
    names, rows = store.query(
        "SELECT e.experiment_id, e.name, e.preset, e.status, e.progress, e.quick, e.device, "
        "e.created_at, e.started_at, e.finished_at, e.message, "
        "coalesce(r.n_runs, 0) AS n_runs, e.n_runs AS n_planned "
        "FROM experiments e LEFT JOIN (SELECT experiment_id, count(*) AS n_runs FROM runs "
        "GROUP BY experiment_id) r USING (experiment_id) ORDER BY e.experiment_id DESC")
    return rows_as_dicts(names, rows)


@register_read("sql_page")
def sql_page(store: Store, query: str, offset: int = 0, limit: int = 200,
             count: bool = False) -> dict:
    """One page of a read-only query's result; with count, also the number of rows."""
    offset, limit = _page_bounds(offset, limit)
    check_read_only(query)
    body = statement_body(query)
    # Newlines keep a trailing `-- comment` in the body from swallowing the parenthesis.
    names, rows = run_read_query(
        store, f"SELECT * FROM (\n{body}\n) AS q LIMIT {limit} OFFSET {offset}")
    out = {"columns": names, "rows": [[plain(v) for v in r] for r in rows], "total": None}
    if count:
        _, total = run_read_query(store, f"SELECT count(*) FROM (\n{body}\n) AS q")
        out["total"] = int(total[0][0])
    return out


@register_read("export_query")
def export_query(store: Store, query: str, out: str) -> int:
    """Write a read-only query's whole result to .csv or .parquet; returns the rows written."""
    return export_data(store, query, out)


@register_read("phase_setups")
def phase_setups(store: Store, experiment_id: int) -> list[dict]:
    """Model setups of an experiment swept over sparsity × last-feature importance."""
    names, rows = store.query(
        "SELECT n_features, d_hidden, n_experts, count(*) AS n_points, "
        "count(DISTINCT round(sparsity, 6)) AS n_sparsity, "
        "count(DISTINCT round(last_importance, 6)) AS n_importance "
        "FROM runs WHERE experiment_id = ? AND chosen "
        "GROUP BY n_features, d_hidden, n_experts "
        "HAVING count(DISTINCT round(sparsity, 6)) > 1 "
        "AND count(DISTINCT round(last_importance, 6)) > 1 "
        "ORDER BY n_features, d_hidden, n_experts", [int(experiment_id)])
    return rows_as_dicts(names, rows)


@register_read("phase_grid")
def phase_grid(store: Store, experiment_id: int, n_features: int, d_hidden: int,
               n_experts: int) -> dict:
    """The last feature of every chosen run of one setup, per expert, on the sweep grid."""
    names, rows = store.query(
        "SELECT r.run_id, round(r.sparsity, 6) AS sparsity, "
        "round(r.last_importance, 6) AS last_importance, r.eval_loss, f.expert, f.norm, "
        "f.superposition, f.superposition_all, f.dimensionality, f.monosemantic "
        "FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1 "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_features = ? AND r.d_hidden = ? "
        "AND r.n_experts = ? ORDER BY f.expert, sparsity, last_importance",
        [int(experiment_id), int(n_features), int(d_hidden), int(n_experts)])
    cells = rows_as_dicts(names, rows)
    return {
        "sparsity": sorted({c["sparsity"] for c in cells}),
        "last_importance": sorted({c["last_importance"] for c in cells}),
        "n_experts": int(n_experts),
        "cells": cells,
    }


@register_read("run_detail")
def run_detail(store: Store, run_id: int) -> dict | None:
    """Everything the run screen draws: the run, per expert its weights, Gram matrix,
    features and routing statistics, and the logged training curves."""
    run_id = int(run_id)
    names, rows = store.query(
        "SELECT * EXCLUDE (config), config FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        return None
    run = rows_as_dicts(names, rows)[0]
    run["config"] = json.loads(run["config"]) if run.get("config") else None
    n, m = run["n_features"], run["d_hidden"]
    experts = {e["expert"]: e for e in rows_as_dicts(*store.query(
        "SELECT * FROM experts WHERE run_id = ? ORDER BY expert", [run_id]))}
    features = rows_as_dicts(*store.query(
        "SELECT * FROM features WHERE run_id = ? ORDER BY expert, feature", [run_id]))
    _, weights = store.query(
        "SELECT expert, W, b, router FROM weights WHERE run_id = ? ORDER BY expert", [run_id])
    out_experts = []
    for expert, W, b, router in weights:
        Wm = [list(W[r * n:(r + 1) * n]) for r in range(m)]  # (d_hidden, n_features)
        gram = [[sum(Wm[r][i] * Wm[r][j] for r in range(m)) for j in range(n)]
                for i in range(n)]
        out_experts.append({
            **{k: plain(v) for k, v in experts.get(expert, {"expert": expert}).items()},
            "W": plain(Wm), "gram": plain(gram), "b": plain(list(b)),
            "router": plain(list(router)),
            "features": [f for f in features if f["expert"] == expert],
        })
    _, metric_rows = store.query(
        "SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name, step", [run_id])
    metrics: dict[str, list] = {}
    for name, step, value in metric_rows:
        metrics.setdefault(name, []).append([step, plain(value)])
    return {"run": run, "experts": out_experts, "metrics": metrics}


@register_read("table1")
def table1(store: Store, experiment_id: int) -> list[dict]:
    """The paper's Table 1: per router init and expert, means over the experiment's chosen
    MoE runs (expert = None is the mean over all experts)."""
    cols = ("n_monosemantic", "usage", "usage_when_mono_active",
            "usage_when_only_mono_active")
    means = ", ".join(f"avg({nan_as_null(c)}) AS {c}" for c in cols)
    names, rows = store.query(
        f"SELECT r.router_init, e.expert, count(DISTINCT r.run_id) AS n_models, {means} "
        "FROM runs r JOIN experts e USING (run_id) "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_experts > 1 "
        "GROUP BY GROUPING SETS ((r.router_init, e.expert), (r.router_init)) "
        "ORDER BY r.router_init, e.expert NULLS LAST", [int(experiment_id)])
    return rows_as_dicts(names, rows)


@register_read("fpd_curves")
def fpd_curves(store: Store, experiment_id: int) -> list[dict]:
    """Features per dimension and loss against sparsity, one curve per model setup
    (means over the chosen runs of each point)."""
    names, rows = store.query(
        "SELECT kind, n_experts, k, d_hidden, round(sparsity, 6) AS sparsity, "
        "avg(fpd) AS fpd, avg(eval_loss) AS eval_loss, count(*) AS n_runs "
        "FROM runs WHERE experiment_id = ? AND chosen "
        "GROUP BY ALL ORDER BY kind, n_experts, k, d_hidden, sparsity",
        [int(experiment_id)])
    return rows_as_dicts(names, rows)


@register_read("seconds_per_step")
def seconds_per_step(store: Store) -> float | None:
    """Measured training cost of one model-step (recent runs trained here), for time
    estimates. Imported runs are left out: they carry the authors' steps but 0 s of
    training, which drove the estimate to 'about 0s'."""
    _, rows = store.query(
        "SELECT sum(train_seconds) / nullif(sum(steps), 0) FROM "
        "(SELECT train_seconds, steps FROM runs WHERE imported_from IS NULL "
        "AND train_seconds > 0 ORDER BY run_id DESC LIMIT 5000)")
    value = rows[0][0] if rows else None
    return None if value is None else float(value)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@register_read("column_names")
def column_names(store: Store, view: str = "runs") -> list[str]:
    """Columns of a public view, for completion in filter boxes."""
    if not _IDENT.fullmatch(view):
        raise StoreError(f"{view!r} is not a view name")
    names, _ = run_read_query(store, f"SELECT * FROM {view} LIMIT 0")
    return names


@register_read("phase_experiments")
def phase_experiments(store: Store) -> list[int]:
    """Experiments with at least one setup swept over sparsity × last-feature importance."""
    _, rows = store.query(
        "SELECT DISTINCT experiment_id FROM (SELECT experiment_id FROM runs WHERE chosen "
        "GROUP BY experiment_id, n_features, d_hidden, n_experts "
        "HAVING count(DISTINCT round(sparsity, 6)) > 1 "
        "AND count(DISTINCT round(last_importance, 6)) > 1) ORDER BY experiment_id DESC")
    return [int(r[0]) for r in rows]
