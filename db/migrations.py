"""Append-only numbered schema migrations; never edit one that has shipped, add a new one.

Internal tables live in schema `store` and may change; the views in `main` are the public
contract (docs: experiments, runs, experts, features, metrics, weights) and keep their columns.
All timestamps are UTC.
"""

from __future__ import annotations

from .migration_crosscoder import CROSSCODER_MIGRATION
from .migration_crosscoder import NEW_TABLES as CROSSCODER_TABLES
from .migration_crosscoder import NEW_VIEWS as CROSSCODER_VIEWS
from .migration_dynamics import DYNAMICS_MIGRATION
from .migration_dynamics import NEW_CHUNK_TABLES as DYNAMICS_TABLES
from .migration_dynamics import NEW_VIEWS as DYNAMICS_VIEWS
from .migration_engine_version import ENGINE_VERSION_MIGRATION
from .migration_fidelity import FIDELITY_MIGRATION
from .migration_fidelity import NEW_VIEWS as FIDELITY_VIEWS
from .migration_lm import LM_MIGRATION
from .migration_lm import NEW_TABLES as LM_TABLES
from .migration_lm import NEW_VIEWS as LM_VIEWS

BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL
)
"""

_TABLES = """
CREATE SCHEMA store;

CREATE TABLE store.experiments (
    experiment_id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL,
    preset VARCHAR,
    created_at TIMESTAMP NOT NULL,
    config VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    message VARCHAR,
    quick BOOLEAN NOT NULL DEFAULT false,
    device VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    progress DOUBLE
);

-- No foreign keys or secondary indexes: they slow the bulk inserts and the single
-- writer checks references itself.
CREATE TABLE store.runs (
    run_id BIGINT PRIMARY KEY,
    experiment_id BIGINT NOT NULL,
    status VARCHAR,
    kind VARCHAR,
    n_features INTEGER,
    d_hidden INTEGER,
    n_experts INTEGER,
    k INTEGER,
    gating VARCHAR,
    router_init VARCHAR,
    sparsity DOUBLE,
    last_importance DOUBLE,
    last_scale DOUBLE,
    seed BIGINT,
    chosen BOOLEAN,
    point INTEGER,
    steps INTEGER,
    batch_size INTEGER,
    lr DOUBLE,
    weight_decay DOUBLE,
    lb_coef DOUBLE,
    device VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    train_seconds DOUBLE,
    final_loss DOUBLE,
    eval_loss DOUBLE,
    fpd DOUBLE,
    capacity DOUBLE,
    lens_top1_cosine DOUBLE,
    config VARCHAR
);

CREATE TABLE store.experts (
    run_id BIGINT NOT NULL,
    expert INTEGER,
    usage DOUBLE,
    route_fraction DOUBLE,
    frobenius_sq DOUBLE,
    n_monosemantic INTEGER,
    usage_when_mono_active DOUBLE,
    usage_when_only_mono_active DOUBLE
);

CREATE TABLE store.features (
    run_id BIGINT NOT NULL,
    expert INTEGER,
    feature INTEGER,
    importance DOUBLE,
    norm DOUBLE,
    bias DOUBLE,
    superposition DOUBLE,
    superposition_all DOUBLE,
    dimensionality DOUBLE,
    specialization DOUBLE,
    monosemantic BOOLEAN,
    occupied BOOLEAN,
    route_given_active DOUBLE,
    global_dimensionality DOUBLE
);

CREATE TABLE store.metrics (
    run_id BIGINT NOT NULL,
    step INTEGER,
    name VARCHAR,
    value DOUBLE
);

-- W is row-major (d_hidden, n_features) flattened; b and router are (n_features,).
CREATE TABLE store.weights (
    run_id BIGINT NOT NULL,
    expert INTEGER,
    W FLOAT[],
    b FLOAT[],
    router FLOAT[]
);
"""

# The public views get their own migration: they are the contract, the tables are not.
_VIEWS = """
CREATE VIEW experiments AS
SELECT experiment_id, name, preset, created_at, config, status, message, quick, device,
       started_at, finished_at, progress
FROM store.experiments;

CREATE VIEW runs AS
SELECT run_id, experiment_id, status, kind, n_features, d_hidden, n_experts, k, gating,
       router_init, sparsity, last_importance, last_scale, seed, chosen, point, steps,
       batch_size, lr, weight_decay, lb_coef, device, started_at, finished_at, train_seconds,
       final_loss, eval_loss, fpd, capacity, lens_top1_cosine, config
FROM store.runs;

CREATE VIEW experts AS
SELECT run_id, expert, usage, route_fraction, frobenius_sq, n_monosemantic,
       usage_when_mono_active, usage_when_only_mono_active
FROM store.experts;

CREATE VIEW features AS
SELECT run_id, expert, feature, importance, norm, bias, superposition, superposition_all,
       dimensionality, specialization, monosemantic, occupied, route_given_active,
       global_dimensionality
FROM store.features;

CREATE VIEW metrics AS
SELECT run_id, step, name, value
FROM store.metrics;

CREATE VIEW weights AS
SELECT run_id, expert, W, b, router
FROM store.weights;
"""

# Experiments train as work units, each stored in its own transaction (engine/plan.py).
# A units row exists exactly when that unit's runs are stored: resume = the units without a
# row, and the primary key makes storing one twice impossible. `owner` says who trains a
# running experiment (the service, or a foreground `moelab run`), instead of the message.
_UNITS = """
ALTER TABLE store.experiments ADD COLUMN owner VARCHAR;
ALTER TABLE store.experiments ADD COLUMN n_runs BIGINT;
ALTER TABLE store.experiments ADD COLUMN n_units INTEGER;
ALTER TABLE store.experiments ADD COLUMN runs_stored BIGINT DEFAULT 0;
ALTER TABLE store.experiments ADD COLUMN units_stored INTEGER DEFAULT 0;
ALTER TABLE store.experiments ADD COLUMN unit_work DOUBLE;
UPDATE store.experiments SET runs_stored = (
    SELECT count(*) FROM store.runs r WHERE r.experiment_id = store.experiments.experiment_id);

CREATE TABLE store.units (
    experiment_id BIGINT NOT NULL,
    unit_index INTEGER NOT NULL,
    n_runs INTEGER NOT NULL,
    first_run_id BIGINT,
    device VARCHAR,
    worker VARCHAR,
    train_seconds DOUBLE,
    stored_at TIMESTAMP NOT NULL,
    PRIMARY KEY (experiment_id, unit_index)
);

CREATE OR REPLACE VIEW experiments AS
SELECT experiment_id, name, preset, created_at, config, status, message, quick, device,
       started_at, finished_at, progress, owner, n_runs, runs_stored, n_units, units_stored
FROM store.experiments;

CREATE VIEW units AS
SELECT experiment_id, unit_index, n_runs, first_run_id, device, worker, train_seconds,
       stored_at
FROM store.units;
"""

MIGRATIONS: list[tuple[int, str]] = [
    (1, _TABLES),
    (2, _VIEWS),
    (3, _UNITS),
    (4, FIDELITY_MIGRATION),
    (5, DYNAMICS_MIGRATION),
    (6, CROSSCODER_MIGRATION),
    (7, ENGINE_VERSION_MIGRATION),
    (8, LM_MIGRATION),
]

LATEST = MIGRATIONS[-1][0]

PUBLIC_VIEWS: tuple[str, ...] = ("experiments", "runs", "experts", "features", "metrics", "weights",
                                  "units", *FIDELITY_VIEWS, *DYNAMICS_VIEWS,
                                  *CROSSCODER_VIEWS, *LM_VIEWS)

# Chunk tables the engine sends, and the columns the store fills in itself.
CHUNK_TABLES: tuple[str, ...] = ("runs", "experts", "features", "metrics", "weights",
                                  *DYNAMICS_TABLES, *CROSSCODER_TABLES, *LM_TABLES)
STORE_FILLED = frozenset({"run_id", "experiment_id"})
