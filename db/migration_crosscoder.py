"""Schema for crosscoders (issue 15), registered in db/migrations.py as migration 6.

A crosscoder is stored as a row of store.runs with kind = 'crosscoder' (so work units,
run ids, resume and the experiment's end need nothing new) and these tables, keyed by
its run_id:
- crosscoders: one row per crosscoder: the two runs it diffs, its size, the factor each
  space was scaled by, variance explained per space, dead latents, mean best cosine of the
  represented input features (MCC-style) per model.
- crosscoder_latents: per latent its decoder norm in each space, relative norm
  r = ‖d_dense‖ / (‖d_dense‖ + ‖d_moe‖), class (shared / dense-only / moe-only / dead),
  activation density, and its decoder and encoder vectors.
- crosscoder_recovery: per input feature and model (expert NULL: the feature's direction in
  the whole activation space, the activation of the one-hot input; expert e: W_iᵉ against
  block e of the MoE decoders) the best cosine of a live latent's decoder and that latent.
Views (public): crosscoders (with class counts and mean densities), crosscoder_latents,
crosscoder_recovery, crosscoder_features (each feature: where it is really represented,
against the class of the latents that found it). Written idempotently.
"""

from __future__ import annotations

CROSSCODER_MIGRATION = """
CREATE TABLE IF NOT EXISTS store.crosscoders (
    run_id BIGINT NOT NULL,
    dense_run_id BIGINT,
    moe_run_id BIGINT,
    n_latents INTEGER,
    k INTEGER,
    n_designated INTEGER,
    class_threshold DOUBLE,
    d_dense INTEGER,
    d_moe INTEGER,
    scale_dense DOUBLE,
    scale_moe DOUBLE,
    fve_dense DOUBLE,
    fve_moe DOUBLE,
    dead_latents INTEGER,
    mcc_dense DOUBLE,
    mcc_moe DOUBLE
);

CREATE TABLE IF NOT EXISTS store.crosscoder_latents (
    run_id BIGINT NOT NULL,
    latent INTEGER,
    designated BOOLEAN,
    norm_dense DOUBLE,
    norm_moe DOUBLE,
    relative_norm DOUBLE,
    class VARCHAR,
    density DOUBLE,
    decoder_cosine DOUBLE,
    dec_dense FLOAT[],
    dec_moe FLOAT[],
    enc_dense FLOAT[],
    enc_moe FLOAT[]
);

CREATE TABLE IF NOT EXISTS store.crosscoder_recovery (
    run_id BIGINT NOT NULL,
    feature INTEGER,
    model VARCHAR,
    expert INTEGER,
    norm DOUBLE,
    represented BOOLEAN,
    cosine DOUBLE,
    latent INTEGER,
    latent_class VARCHAR
);

CREATE OR REPLACE VIEW crosscoder_latents AS
SELECT run_id, latent, designated, norm_dense, norm_moe, relative_norm, class, density,
       decoder_cosine, dec_dense, dec_moe, enc_dense, enc_moe
FROM store.crosscoder_latents;

CREATE OR REPLACE VIEW crosscoder_recovery AS
SELECT run_id, feature, model, expert, norm, represented, cosine, latent, latent_class
FROM store.crosscoder_recovery;

CREATE OR REPLACE VIEW crosscoders AS
SELECT r.run_id, r.experiment_id, r.seed, r.point AS pair, c.dense_run_id, c.moe_run_id,
       c.n_latents, c.k, c.n_designated, c.class_threshold, c.d_dense, c.d_moe,
       c.fve_dense, c.fve_moe, c.dead_latents, c.mcc_dense, c.mcc_moe,
       l.n_shared, l.n_dense_only, l.n_moe_only,
       l.density_shared, l.density_designated, l.density_dense_only, l.density_moe_only,
       c.scale_dense, c.scale_moe, r.eval_loss, r.train_seconds, r.device
FROM store.crosscoders c JOIN store.runs r USING (run_id)
LEFT JOIN (
    SELECT run_id,
           count(*) FILTER (WHERE class = 'shared') AS n_shared,
           count(*) FILTER (WHERE class = 'dense-only') AS n_dense_only,
           count(*) FILTER (WHERE class = 'moe-only') AS n_moe_only,
           avg(density) FILTER (WHERE class = 'shared') AS density_shared,
           avg(density) FILTER (WHERE designated AND class = 'shared') AS density_designated,
           avg(density) FILTER (WHERE class = 'dense-only') AS density_dense_only,
           avg(density) FILTER (WHERE class = 'moe-only') AS density_moe_only
    FROM store.crosscoder_latents GROUP BY run_id
) l USING (run_id);

CREATE OR REPLACE VIEW crosscoder_features AS
SELECT d.run_id, d.feature, d.norm AS dense_norm, m.norm AS moe_norm,
       CASE WHEN d.represented AND m.represented THEN 'shared'
            WHEN d.represented THEN 'dense-only'
            WHEN m.represented THEN 'moe-only' ELSE 'neither' END AS truth,
       d.cosine AS dense_cosine, d.latent AS dense_latent, d.latent_class AS dense_latent_class,
       m.cosine AS moe_cosine, m.latent AS moe_latent, m.latent_class AS moe_latent_class
FROM store.crosscoder_recovery d JOIN store.crosscoder_recovery m
  ON d.run_id = m.run_id AND d.feature = m.feature
WHERE d.model = 'dense' AND m.model = 'moe' AND d.expert IS NULL AND m.expert IS NULL;
"""

# The views this migration adds to the documented ones (db.migrations.PUBLIC_VIEWS), and the
# tables a unit's chunk may carry (db.migrations.CHUNK_TABLES).
NEW_VIEWS: tuple[str, ...] = ("crosscoders", "crosscoder_latents", "crosscoder_recovery",
                              "crosscoder_features")
NEW_TABLES: tuple[str, ...] = ("crosscoders", "crosscoder_latents", "crosscoder_recovery")
