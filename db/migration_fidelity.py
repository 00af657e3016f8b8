"""Schema for issue 12 (faithful to the paper and its authors' data), registered in
db/migrations.py as one migration: written idempotently (IF NOT EXISTS, OR REPLACE), so a
test can apply it to a store that has it already.

- experts: Table 1 the authors' way, on dense inputs (every feature ~ U[0, 1]): usage_dense,
  usage_dense_mono_active (the expert's monosemantic features clamped to 1.0) and
  usage_dense_only_mono (those features alone, one common value), beside the usages on the
  training distribution (usage, usage_when_mono_active, usage_when_only_mono_active).
- features: occupied_init, the expert a feature routed to under the initial router (for a
  k-hot router: its block), NULL for runs stored before.
- runs: expert_init, tie_break (from the stored config; runs stored before this schema were
  trained with per-expert xavier and ties to the lowest expert) and imported_from (the
  file of an imported run, NULL for a trained one).
- last_feature: the last feature of every (run, expert) with its class, and
  seed_stability: per sweep point with one chosen run, the share of its seeds whose classes
  match the chosen seed's, experts matched (the multiset of classes is equal).
The public views keep their columns; new ones are appended at the end.
"""

from __future__ import annotations

# Class of the last feature (SPEC, second wave); 0.5 is tau_norm, and `monosemantic` was
# stored with the thresholds of its run.
LAST_CLASS_SQL = ("CASE WHEN f.norm < 0.5 THEN 'ignored' WHEN f.monosemantic "
                  "THEN 'monosemantic' ELSE 'superposition' END")

# Per sweep point: runs whose sorted class lists equal the chosen run's. Shared with the
# reads, which work on files from before the view too.
SEED_STABILITY_SQL = f"""
WITH per_run AS (
    SELECT r.experiment_id, r.point, r.run_id, r.chosen,
           list_sort(list({LAST_CLASS_SQL})) AS classes
    FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1
    GROUP BY r.experiment_id, r.point, r.run_id, r.chosen
), chosen AS (
    SELECT experiment_id, point, any_value(classes) AS classes
    FROM per_run WHERE chosen GROUP BY experiment_id, point HAVING count(*) = 1
)
SELECT p.experiment_id, p.point, count(*) AS n_seeds,
       count(*) FILTER (WHERE p.classes = c.classes) AS n_matching,
       count(*) FILTER (WHERE p.classes = c.classes) / count(*) AS stability,
       c.classes AS chosen_classes
FROM per_run p JOIN chosen c ON c.experiment_id = p.experiment_id AND c.point = p.point
GROUP BY p.experiment_id, p.point, c.classes
"""

FIDELITY_MIGRATION = f"""
ALTER TABLE store.experts ADD COLUMN IF NOT EXISTS usage_dense DOUBLE;
ALTER TABLE store.experts ADD COLUMN IF NOT EXISTS usage_dense_mono_active DOUBLE;
ALTER TABLE store.experts ADD COLUMN IF NOT EXISTS usage_dense_only_mono DOUBLE;
ALTER TABLE store.features ADD COLUMN IF NOT EXISTS occupied_init BOOLEAN;

CREATE OR REPLACE VIEW runs AS
SELECT run_id, experiment_id, status, kind, n_features, d_hidden, n_experts, k, gating,
       router_init, sparsity, last_importance, last_scale, seed, chosen, point, steps,
       batch_size, lr, weight_decay, lb_coef, device, started_at, finished_at, train_seconds,
       final_loss, eval_loss, fpd, capacity, lens_top1_cosine, config,
       coalesce(json_extract_string(config, '$.model.expert_init'), 'per_expert')
           AS expert_init,
       coalesce(json_extract_string(config, '$.model.tie_break'), 'lowest') AS tie_break,
       json_extract_string(config, '$.source.file') AS imported_from
FROM store.runs;

CREATE OR REPLACE VIEW experts AS
SELECT run_id, expert, usage, route_fraction, frobenius_sq, n_monosemantic,
       usage_when_mono_active, usage_when_only_mono_active,
       usage_dense, usage_dense_mono_active, usage_dense_only_mono
FROM store.experts;

CREATE OR REPLACE VIEW features AS
SELECT run_id, expert, feature, importance, norm, bias, superposition, superposition_all,
       dimensionality, specialization, monosemantic, occupied, route_given_active,
       global_dimensionality, occupied_init
FROM store.features;

CREATE OR REPLACE VIEW last_feature AS
SELECT r.experiment_id, r.point, r.run_id, r.seed, r.chosen, f.expert, f.norm,
       f.superposition, f.superposition_all, f.monosemantic, {LAST_CLASS_SQL} AS class
FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1;

CREATE OR REPLACE VIEW seed_stability AS {SEED_STABILITY_SQL};
"""

# Views this migration adds to the documented ones (db.migrations.PUBLIC_VIEWS).
NEW_VIEWS: tuple[str, ...] = ("last_feature", "seed_stability")
