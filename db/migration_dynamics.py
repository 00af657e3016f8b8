"""Schema for issue 14 (beyond the paper), registered in db/migrations.py as migration 5.
Written idempotently (IF NOT EXISTS, OR REPLACE), like migration 4.

- snapshots: W, b and router of a run at each snapshot step (train.snapshots), one row per
  expert, laid out as the weights view; the last step's equal the final weights.
- dynamics: the paper's metrics at each snapshot, one row per (run, step, expert, feature):
  per feature norm, superposition (j≠i), dimensionality, monosemantic; per expert usage and
  route_fraction; per run fpd and loss (reconstruction, on a fixed batch of 2048).
- specialization: per run and feature, the first snapshot step from which the feature stays
  monosemantic in one expert to the end, and that expert (both NULL when none does).
- lens, lens_experts: MoE Lens per MoE run (engine/lens.py): routing concentration,
  top-1-only loss relative to the full loss, each expert's ablation loss.
- custom_metrics: values of user metrics (expert / feature NULL when not per expert /
  feature); custom_metric_errors: one line per run for which a metric raised;
  metric_registry: the metrics `moelab metric add` registered, computed for new runs.
Metric values per snapshot are FLOAT: they are read as curves, and rows are many.
"""

from __future__ import annotations

DYNAMICS_MIGRATION = """
CREATE TABLE IF NOT EXISTS store.snapshots (
    run_id BIGINT NOT NULL,
    step INTEGER,
    expert INTEGER,
    W FLOAT[],
    b FLOAT[],
    router FLOAT[]
);

CREATE TABLE IF NOT EXISTS store.dynamics_features (
    run_id BIGINT NOT NULL,
    step INTEGER,
    expert INTEGER,
    feature INTEGER,
    norm FLOAT,
    superposition FLOAT,
    dimensionality FLOAT,
    monosemantic BOOLEAN
);

CREATE TABLE IF NOT EXISTS store.dynamics_experts (
    run_id BIGINT NOT NULL,
    step INTEGER,
    expert INTEGER,
    usage FLOAT,
    route_fraction FLOAT
);

CREATE TABLE IF NOT EXISTS store.dynamics_runs (
    run_id BIGINT NOT NULL,
    step INTEGER,
    fpd DOUBLE,
    loss DOUBLE
);

CREATE TABLE IF NOT EXISTS store.specialization (
    run_id BIGINT NOT NULL,
    feature INTEGER,
    expert INTEGER,
    step INTEGER
);

CREATE TABLE IF NOT EXISTS store.lens (
    run_id BIGINT NOT NULL,
    top_share DOUBLE,
    top_quarter_share DOUBLE,
    routing_entropy DOUBLE,
    full_loss DOUBLE,
    top1_loss DOUBLE,
    top1_loss_ratio DOUBLE
);

CREATE TABLE IF NOT EXISTS store.lens_experts (
    run_id BIGINT NOT NULL,
    expert INTEGER,
    ablation_loss DOUBLE,
    ablation_loss_ratio DOUBLE
);

CREATE TABLE IF NOT EXISTS store.custom_metrics (
    run_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    expert INTEGER,
    feature INTEGER,
    value DOUBLE
);

CREATE TABLE IF NOT EXISTS store.custom_metric_errors (
    run_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    error VARCHAR
);

CREATE TABLE IF NOT EXISTS store.metric_registry (
    name VARCHAR PRIMARY KEY,
    target VARCHAR NOT NULL,
    options VARCHAR,
    path VARCHAR,
    added_at TIMESTAMP NOT NULL
);

CREATE OR REPLACE VIEW snapshots AS
SELECT run_id, step, expert, W, b, router
FROM store.snapshots;

CREATE OR REPLACE VIEW dynamics AS
SELECT f.run_id, f.step, f.expert, f.feature, f.norm, f.superposition, f.dimensionality,
       f.monosemantic, e.usage, e.route_fraction, r.fpd, r.loss
FROM store.dynamics_features f
JOIN store.dynamics_experts e
  ON e.run_id = f.run_id AND e.step = f.step AND e.expert = f.expert
JOIN store.dynamics_runs r ON r.run_id = f.run_id AND r.step = f.step;

CREATE OR REPLACE VIEW specialization AS
SELECT run_id, feature, expert, step
FROM store.specialization;

CREATE OR REPLACE VIEW lens AS
SELECT l.run_id, l.top_share, l.top_quarter_share, l.routing_entropy,
       r.lens_top1_cosine AS top1_cosine, l.full_loss, l.top1_loss, l.top1_loss_ratio
FROM store.lens l JOIN store.runs r ON r.run_id = l.run_id;

CREATE OR REPLACE VIEW lens_experts AS
SELECT run_id, expert, ablation_loss, ablation_loss_ratio
FROM store.lens_experts;

CREATE OR REPLACE VIEW custom_metrics AS
SELECT run_id, name, expert, feature, value
FROM store.custom_metrics;

CREATE OR REPLACE VIEW custom_metric_errors AS
SELECT run_id, name, error
FROM store.custom_metric_errors;

CREATE OR REPLACE VIEW metric_registry AS
SELECT name, target, options, path, added_at
FROM store.metric_registry;
"""

# Views this migration adds to the documented ones (db.migrations.PUBLIC_VIEWS).
NEW_VIEWS: tuple[str, ...] = ("snapshots", "dynamics", "specialization", "lens", "lens_experts",
                              "custom_metrics", "custom_metric_errors", "metric_registry")

# Tables a trained unit may send (db.migrations.CHUNK_TABLES).
NEW_CHUNK_TABLES: tuple[str, ...] = ("snapshots", "dynamics_features", "dynamics_experts",
                                     "dynamics_runs", "specialization", "lens", "lens_experts",
                                     "custom_metrics", "custom_metric_errors")
