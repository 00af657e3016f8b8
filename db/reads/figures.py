"""Reads behind the exported figures and the reproduction report (in db.registry.READS).

Each returns columns as plain lists ({"column": [values, ...]}), so the lab service can send
them as JSON and the figures can plot them without knowing any SQL.
"""

from __future__ import annotations

from ..registry import plain, register_read
from ..store import Store

# What identifies a model setup inside an experiment (a sweep variant, a router init).
SETUP_COLUMNS = ("kind", "n_features", "d_hidden", "n_experts", "k", "gating", "router_init")

_RUN_COLUMNS = (*SETUP_COLUMNS, "run_id", "point", "seed", "chosen", "lb_coef", "steps",
                "eval_loss", "final_loss", "fpd", "capacity")


def _columns(names: list[str], rows: list) -> dict[str, list]:
    return {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}


def _chosen(chosen_only: bool, alias: str = "r") -> str:
    return f" AND {alias}.chosen" if chosen_only else ""


def _setup_select(alias: str = "r") -> str:
    # Sweep values are rounded so equal grid points compare equal after float arithmetic.
    cols = ", ".join(f"{alias}.{c}" for c in SETUP_COLUMNS)
    return (f"{cols}, round({alias}.sparsity, 6) AS sparsity, "
            f"round({alias}.last_importance, 6) AS last_importance")


@register_read("figure_runs")
def figure_runs(store: Store, experiment_id: int, chosen_only: bool = True) -> dict:
    """The experiment's runs: setup, sweep point, seed, losses, features per dimension."""
    others = ", ".join(f"r.{c}" for c in _RUN_COLUMNS if c not in SETUP_COLUMNS)
    names, rows = store.query(
        f"SELECT {_setup_select()}, {others} FROM runs r WHERE r.experiment_id = ?"
        f"{_chosen(chosen_only)} ORDER BY r.run_id", [int(experiment_id)])
    return _columns(names, rows)


@register_read("figure_points")
def figure_points(store: Store, experiment_id: int) -> dict:
    """Per sweep point: how many seeds were trained and how many are chosen."""
    names, rows = store.query(
        "SELECT point, count(*) AS n_seeds, count(*) FILTER (WHERE chosen) AS n_chosen "
        "FROM runs WHERE experiment_id = ? GROUP BY point ORDER BY point",
        [int(experiment_id)])
    return _columns(names, rows)


@register_read("figure_features")
def figure_features(store: Store, experiment_id: int, chosen_only: bool = True,
                    last_only: bool = False) -> dict:
    """Per (run, expert, feature): norm, superposition (both forms), monosemantic, occupied;
    with last_only, only the last feature (the one a phase diagram sweeps)."""
    last = " AND f.feature = r.n_features - 1" if last_only else ""
    names, rows = store.query(
        f"SELECT r.run_id, {_setup_select()}, r.seed, f.expert, f.feature, f.importance, "
        "f.norm, f.bias, f.superposition, f.superposition_all, f.dimensionality, "
        "f.specialization, f.monosemantic, f.occupied "
        f"FROM runs r JOIN features f ON f.run_id = r.run_id{last} "
        f"WHERE r.experiment_id = ?{_chosen(chosen_only)} "
        "ORDER BY r.run_id, f.expert, f.feature", [int(experiment_id)])
    return _columns(names, rows)


@register_read("figure_weights")
def figure_weights(store: Store, run_ids: list[int]) -> dict:
    """W (d_hidden × n_features, row-major), b and router row per expert of the given runs."""
    ids = [int(i) for i in run_ids]
    if not ids:
        return {"run_id": [], "expert": [], "n_features": [], "d_hidden": [], "W": [],
                "b": [], "router": []}
    names, rows = store.query(
        "SELECT w.run_id, w.expert, r.n_features, r.d_hidden, w.W, w.b, w.router "
        "FROM weights w JOIN runs r ON r.run_id = w.run_id "
        "WHERE list_contains(?, w.run_id) ORDER BY w.run_id, w.expert", [ids])
    return _columns(names, rows)


@register_read("figure_metrics")
def figure_metrics(store: Store, experiment_id: int, metric: str = "loss",
                   chosen_only: bool = True) -> dict:
    """One logged training metric of every (chosen) run of the experiment, by step."""
    names, rows = store.query(
        "SELECT m.run_id, m.step, m.value FROM runs r JOIN metrics m ON m.run_id = r.run_id "
        f"WHERE r.experiment_id = ? AND m.name = ?{_chosen(chosen_only)} "
        "ORDER BY m.run_id, m.step", [int(experiment_id), str(metric)])
    return _columns(names, rows)


@register_read("figure_metric_names")
def figure_metric_names(store: Store, experiment_id: int) -> list[str]:
    _, rows = store.query(
        "SELECT DISTINCT m.name FROM runs r JOIN metrics m ON m.run_id = r.run_id "
        "WHERE r.experiment_id = ? ORDER BY 1", [int(experiment_id)])
    return [r[0] for r in rows]
