"""Reads behind the Experts view (registered into db.registry.READS).

Table 1's averages only mean something within one model setup: an experiment like fig4
holds several (n_features, d_hidden, n_experts), and expert 2 of a 3-expert model is not
expert 2 of another shape. So every mean here is per setup.
"""

from __future__ import annotations

from ..registry import nan_as_null, register_read, rows_as_dicts
from ..store import Store

SETUP = ("kind", "n_features", "d_hidden", "n_experts", "k", "gating", "router_init")


@register_read("table1_by_setup")
def table1_by_setup(store: Store, experiment_id: int) -> list[dict]:
    """The paper's Table 1 per model setup (shape, gating, router init) and expert, means
    over the experiment's chosen MoE runs; expert = None is the mean over the setup's
    experts. Experts are numbered from 0, as in the views. Usages under both definitions:
    the training distribution's, then the authors' on dense inputs (usage_dense*)."""
    setup = ", ".join(f"r.{c}" for c in SETUP)
    cols = ("n_monosemantic", "usage", "usage_when_mono_active",
            "usage_when_only_mono_active", "usage_dense", "usage_dense_mono_active",
            "usage_dense_only_mono")
    means = ", ".join(f"avg({nan_as_null('e.' + c)}) AS {c}" for c in cols)
    names, rows = store.query(
        f"SELECT {setup}, e.expert, count(DISTINCT r.run_id) AS n_models, {means} "
        "FROM runs r JOIN experts e USING (run_id) "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_experts > 1 "
        f"GROUP BY GROUPING SETS (({setup}, e.expert), ({setup})) "
        f"ORDER BY {setup}, e.expert NULLS LAST", [int(experiment_id)])
    return rows_as_dicts(names, rows)


@register_read("fpd_by_setup")
def fpd_by_setup(store: Store, experiment_id: int) -> list[dict]:
    """Features per dimension and evaluation loss against sparsity, one curve per model
    setup, n_features included (n = 2 and n = 3 are different curves): means over the
    chosen runs of each point, with how many of them were imported (no router, no
    evaluation: their fpd and eval_loss are NULL)."""
    names, rows = store.query(
        "SELECT kind, n_features, n_experts, k, d_hidden, round(sparsity, 6) AS sparsity, "
        f"avg({nan_as_null('fpd')}) AS fpd, avg({nan_as_null('eval_loss')}) AS eval_loss, "
        "count(*) AS n_runs, count(imported_from) AS n_imported "
        "FROM runs WHERE experiment_id = ? AND chosen "
        "GROUP BY ALL ORDER BY kind, n_features, n_experts, k, d_hidden, sparsity",
        [int(experiment_id)])
    return rows_as_dicts(names, rows)
