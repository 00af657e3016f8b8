"""Reads behind the Experts view's MoE Lens panel (registered into db.registry.READS).

`lens_choices` lists an experiment's chosen runs in the order the panel steps through them
(MoE runs by setup and cell, then dense ones, for which MoE Lens does not apply) with the
per-setup means; `lens_of_run` is one run's setup and its MoE Lens (`lens_run`).
"""

from __future__ import annotations

from ..registry import register_read, rows_as_dicts
from ..store import Store
from . import dynamics as reads_dynamics  # its lens_run
from .figures import SETUP_COLUMNS

_MEANS = ("top_share", "top_quarter_share", "routing_entropy", "top1_cosine",
          "top1_loss_ratio", "max_ablation_ratio")


@register_read("lens_choices")
def lens_choices(store: Store, experiment_id: int) -> dict:
    """{run_ids: the chosen runs, MoE ones first (setup, sparsity, last importance), n_moe,
    n_imported (runs imported from the authors' files: no router, so no lens), setups: per
    MoE setup the number of runs with a stored lens and the means of its numbers
    (max_ablation_ratio: each run's worst expert removal, relative to its loss)}."""
    order = ", ".join(f"r.{c}" for c in SETUP_COLUMNS)
    _, rows = store.query(
        "SELECT r.run_id, r.n_experts > 1, r.imported_from IS NOT NULL FROM runs r "
        "WHERE r.experiment_id = ? AND r.chosen "
        f"ORDER BY r.n_experts > 1 DESC, {order}, r.sparsity, r.last_importance, r.run_id",
        [int(experiment_id)])
    setup = ", ".join(f"r.{c}" for c in SETUP_COLUMNS)
    means = ", ".join(f"avg({c}) AS {c}" for c in _MEANS)
    setups = rows_as_dicts(*store.query(
        f"SELECT {setup}, count(*) AS n_runs, {means} FROM runs r "
        "JOIN lens l ON l.run_id = r.run_id "
        "LEFT JOIN (SELECT run_id, max(ablation_loss_ratio) AS max_ablation_ratio "
        "           FROM lens_experts GROUP BY run_id) a ON a.run_id = r.run_id "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_experts > 1 "
        f"GROUP BY {setup} ORDER BY {setup}", [int(experiment_id)]))
    return {"run_ids": [int(r[0]) for r in rows], "n_moe": sum(bool(r[1]) for r in rows),
            "n_imported": sum(bool(r[2]) for r in rows), "setups": setups}


@register_read("lens_of_run")
def lens_of_run(store: Store, run_id: int) -> dict | None:
    """{run: its experiment, setup, cell and imported_from, lens: lens_run (None when not
    stored: a dense run, an imported one (no router), or one stored before MoE Lens)}; None
    for an unknown run."""
    cols = ", ".join(SETUP_COLUMNS)
    run = rows_as_dicts(*store.query(
        f"SELECT run_id, experiment_id, {cols}, sparsity, last_importance, seed, imported_from "
        "FROM runs "
        "WHERE run_id = ?", [int(run_id)]))
    if not run:
        return None
    return {"run": run[0], "lens": reads_dynamics.lens_run(store, int(run_id))}
