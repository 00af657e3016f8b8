"""What the phase diagram can show beside the final last feature (registered into
db.registry.READS): seed stability per chosen run, the last feature at a snapshot step, a
custom metric per (run, expert), and where an imported experiment came from.

Each is keyed by the chosen run (run_id, expert), so the TUI and the figures lay them on the
grid they already have; none of them changes phase_grids. Per-run answers are columns
fetched column by column (Store.query_columns): plain() per value of 10,000 rows cost 40 ms.
"""

from __future__ import annotations

import json

from ..migration_fidelity import LAST_CLASS_SQL
from ..registry import plain, register_read, rows_as_dicts
from ..store import Store

# Σ over all j (the authors' superposition) from the stored j ≠ i form: the term j = i is
# (Ŵ_i·W_i)² = ‖W_i‖², zero below engine.metrics.NORM_EPS (a feature without direction).
_SUPERPOSITION_ALL = "f.superposition + CASE WHEN f.norm > 0.001 THEN f.norm * f.norm ELSE 0 END"


@register_read("phase_stability")
def phase_stability(store: Store, experiment_id: int) -> dict:
    """Per chosen run of a sweep point: its point's number of seeds, how many of them have
    the chosen seed's last-feature classes (experts matched), and that share (the
    seed_stability view, for one experiment)."""
    # A point with one run matches itself (a class is never NULL): only the points with
    # several seeds need the class lists (on 10,000 one-seed points, 60 ms less).
    return store.query_columns(
        f"""WITH runs_e AS (
            SELECT r.point, r.run_id, r.chosen, r.n_features,
                   count(*) OVER (PARTITION BY r.point) AS n_runs
            FROM runs r WHERE r.experiment_id = ? AND r.point IS NOT NULL
        ), per_run AS (
            SELECT r.point, r.run_id, r.chosen, list_sort(list({LAST_CLASS_SQL})) AS classes
            FROM runs_e r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1
            WHERE r.n_runs > 1 GROUP BY r.point, r.run_id, r.chosen
        ), chosen AS (
            SELECT point, any_value(run_id) AS run_id, any_value(classes) AS classes
            FROM per_run WHERE chosen GROUP BY point HAVING count(*) = 1
        )
        SELECT c.run_id, count(*) AS n_seeds,
               count(*) FILTER (WHERE p.classes = c.classes) AS n_matching,
               count(*) FILTER (WHERE p.classes = c.classes) / count(*) AS stability
        FROM per_run p JOIN chosen c ON c.point = p.point
        GROUP BY c.run_id
        UNION ALL
        SELECT r.run_id, 1::BIGINT, 1::BIGINT, 1.0::DOUBLE FROM runs_e r
        WHERE r.n_runs = 1 AND r.chosen AND EXISTS (SELECT 1 FROM features f
            WHERE f.run_id = r.run_id AND f.feature = r.n_features - 1)
        ORDER BY 1""", [int(experiment_id)])


@register_read("phase_snapshot_steps")
def phase_snapshot_steps(store: Store, experiment_id: int) -> list[int]:
    """The snapshot steps stored for the experiment's chosen runs, in order."""
    _, rows = store.query(
        "SELECT DISTINCT d.step FROM store.dynamics_runs d JOIN runs r ON r.run_id = d.run_id "
        "WHERE r.experiment_id = ? AND r.chosen ORDER BY d.step", [int(experiment_id)])
    return [int(r[0]) for r in rows]


@register_read("phase_at_step")
def phase_at_step(store: Store, experiment_id: int, step: int) -> dict:
    """The last feature of every chosen run per expert at the snapshot nearest to step (per
    run; a tie takes the earlier one), with that run's loss there: the columns of
    figure_features(last_only) that a phase diagram uses, plus loss and step."""
    return store.query_columns(
        """WITH c AS (SELECT * FROM runs WHERE experiment_id = ? AND chosen),
        pick AS (
            SELECT d.run_id, arg_min(d.step, 2 * abs(d.step - ?) + (d.step > ?)::INT) AS step
            FROM store.dynamics_runs d JOIN c ON c.run_id = d.run_id GROUP BY d.run_id
        )
        SELECT c.run_id, c.kind, c.n_features, c.d_hidden, c.n_experts, c.k, c.gating,
               c.router_init, round(c.sparsity, 6) AS sparsity,
               round(c.last_importance, 6) AS last_importance, f.expert, f.feature,
               f.norm, f.superposition, """ + _SUPERPOSITION_ALL + """ AS superposition_all,
               f.dimensionality, f.monosemantic, d.loss AS eval_loss, p.step
        FROM c JOIN pick p ON p.run_id = c.run_id
        JOIN store.dynamics_features f ON f.run_id = c.run_id AND f.step = p.step
             AND f.feature = c.n_features - 1
        JOIN store.dynamics_runs d ON d.run_id = c.run_id AND d.step = p.step
        ORDER BY c.run_id, f.expert""", [int(experiment_id), int(step), int(step)])


@register_read("phase_metrics")
def phase_metrics(store: Store, experiment_id: int) -> list[dict]:
    """Every registered custom metric and every one with values for the experiment's chosen
    runs: name, shape (scalar | per expert | per feature | per expert and feature; None when
    it has no values here) and n_runs (chosen runs with a value)."""
    _, registered = store.query("SELECT name FROM store.metric_registry")
    names, rows = store.query(
        "SELECT m.name, bool_or(m.expert IS NOT NULL) AS per_expert, "
        "bool_or(m.feature IS NOT NULL) AS per_feature, count(DISTINCT m.run_id) AS n_runs "
        "FROM store.custom_metrics m JOIN runs r ON r.run_id = m.run_id "
        "WHERE r.experiment_id = ? AND r.chosen GROUP BY m.name", [int(experiment_id)])
    found = {r["name"]: r for r in rows_as_dicts(names, rows)}
    shapes = {(False, False): "scalar", (True, False): "per expert",
              (False, True): "per feature", (True, True): "per expert and feature"}
    out = []
    for name in sorted({r[0] for r in registered} | set(found)):
        r = found.get(name)
        out.append({"name": name, "n_runs": r["n_runs"] if r else 0,
                    "shape": shapes[(bool(r["per_expert"]), bool(r["per_feature"]))]
                    if r else None})
    return out


@register_read("phase_metric")
def phase_metric(store: Store, experiment_id: int, metric: str) -> dict:
    """One custom metric's value per chosen run and expert, as the phase diagram colours
    it: a scalar for every expert, a per-feature metric's last feature, a per-expert
    metric's own expert (expert is NULL where one value holds for every expert)."""
    return store.query_columns(
        "SELECT m.run_id, m.expert, m.value FROM store.custom_metrics m "
        "JOIN runs r ON r.run_id = m.run_id WHERE r.experiment_id = ? AND r.chosen "
        "AND m.name = ? AND (m.feature IS NULL OR m.feature = r.n_features - 1) "
        "ORDER BY m.run_id, m.expert", [int(experiment_id), str(metric)])


@register_read("import_source")
def import_source(store: Store, experiment_id: int) -> dict | None:
    """For an experiment imported with `moelab import npz`: its files (name, save time,
    setup) and the seeds per cell the files say the authors trained (None where a file does
    not say); None for a trained experiment."""
    _, exp = store.query("SELECT preset, config FROM experiments WHERE experiment_id = ?",
                         [int(experiment_id)])
    if not exp or exp[0][0] != "import":
        return None
    config = json.loads(exp[0][1] or "{}")
    _, seeds = store.query(
        "SELECT DISTINCT TRY_CAST(json_extract_string(config, '$.train.seeds') AS INTEGER) "
        "FROM runs WHERE experiment_id = ? ORDER BY 1 NULLS LAST", [int(experiment_id)])
    return {"files": plain((config.get("source") or {}).get("files") or []),
            "seeds": [r[0] for r in seeds]}
