"""Reads behind issue 12 (registered into db.registry.READS): Table 1 under both usage
definitions, the last feature of every chosen cell (for `moelab compare` and the phase-diff
figure), and the seed stability of each sweep point."""

from __future__ import annotations

from ..migration_fidelity import LAST_CLASS_SQL, SEED_STABILITY_SQL
from ..registry import nan_as_null, plain, register_read
from ..store import Store

_USAGES = ("usage", "usage_when_mono_active", "usage_when_only_mono_active",  # training data
           "usage_dense", "usage_dense_mono_active", "usage_dense_only_mono")  # the authors'


def _columns(names: list[str], rows: list) -> dict[str, list]:
    return {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}


@register_read("usage_table_both")
def usage_table_both(store: Store, experiment_id: int) -> dict:
    """Table 1 per router init and number of monosemantic features per expert: how many
    experts, and their usages on the training distribution and on dense inputs (the
    authors'), as fractions; NaN (no monosemantic feature) averages as NULL."""
    avgs = ", ".join(f"avg({nan_as_null('e.' + c)}) AS {c}" for c in _USAGES)
    names, rows = store.query(
        f"SELECT r.router_init, e.n_monosemantic, count(*) AS n_experts_with, "
        f"count(DISTINCT r.run_id) AS n_models, {avgs} "
        "FROM runs r JOIN experts e ON e.run_id = r.run_id "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_experts > 1 "
        "GROUP BY r.router_init, e.n_monosemantic ORDER BY r.router_init, e.n_monosemantic",
        [int(experiment_id)])
    return _columns(names, rows)


@register_read("usage_by_expert")
def usage_by_expert(store: Store, experiment_id: int) -> dict:
    """Per chosen (run, expert): the router init, the number of monosemantic features and
    every usage, for verdicts that need a spread over models, not only the means."""
    names, rows = store.query(
        "SELECT r.run_id, r.router_init, e.expert, e.n_monosemantic, "
        + ", ".join(nan_as_null(f"e.{c}") + f" AS {c}" for c in _USAGES)
        + " FROM runs r JOIN experts e ON e.run_id = r.run_id "
        "WHERE r.experiment_id = ? AND r.chosen AND r.n_experts > 1 "
        "ORDER BY r.run_id, e.expert", [int(experiment_id)])
    return _columns(names, rows)


@register_read("last_feature_cells")
def last_feature_cells(store: Store, experiment_id: int, chosen_only: bool = True) -> dict:
    """The last feature of each (run, expert): setup, cell (sparsity, last importance, rounded
    so equal grid points compare equal), seed, norm, monosemantic and class."""
    chosen = " AND r.chosen" if chosen_only else ""
    names, rows = store.query(
        "SELECT r.run_id, r.point, r.seed, r.chosen, r.n_features, r.d_hidden, r.n_experts, "
        "round(r.sparsity, 6) AS sparsity, round(r.last_importance, 6) AS last_importance, "
        f"f.expert, f.norm, f.monosemantic, {LAST_CLASS_SQL} AS class "
        "FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1 "
        f"WHERE r.experiment_id = ?{chosen} ORDER BY r.run_id, f.expert",
        [int(experiment_id)])
    return _columns(names, rows)


@register_read("seed_stability")
def seed_stability(store: Store, experiment_id: int) -> dict:
    """Per sweep point with one chosen run: its setup and cell, how many seeds, and the share
    whose last-feature classes match the chosen seed's (experts matched)."""
    names, rows = store.query(
        f"WITH s AS ({SEED_STABILITY_SQL}) "
        "SELECT s.point, r.n_features, r.d_hidden, r.n_experts, "
        "round(r.sparsity, 6) AS sparsity, round(r.last_importance, 6) AS last_importance, "
        "s.n_seeds, s.n_matching, s.stability "
        "FROM s JOIN runs r ON r.experiment_id = s.experiment_id AND r.point = s.point "
        "AND r.chosen WHERE s.experiment_id = ? ORDER BY s.point", [int(experiment_id)])
    return _columns(names, rows)


@register_read("init_blocks")
def init_blocks(store: Store, experiment_id: int) -> dict:
    """Every run's (expert, feature) pairs with the importance, whether the feature is
    monosemantic in that expert and whether the expert occupied it under the initial router
    (a k-hot router's block; NULL for runs stored before the column): fig6's checks."""
    names, rows = store.query(
        "SELECT r.run_id, r.router_init, r.seed, r.chosen, f.expert, f.feature, f.importance, "
        "f.norm, f.monosemantic, f.occupied, f.occupied_init "
        "FROM runs r JOIN features f ON f.run_id = r.run_id WHERE r.experiment_id = ? "
        "ORDER BY r.run_id, f.expert, f.feature", [int(experiment_id)])
    return _columns(names, rows)
