"""Schema for small language models (issue 24), registered in db/migrations.py as migration 8.

An lm model is a row of store.runs (kind 'lm-dense' or 'lm-moe'; d_hidden holds its expert
width, lens_top1_cosine the mean MoE Lens hidden-state cosine) plus, keyed by its run_id:
- lm_runs: its shape, parameter counts (all, and those one token uses), tokens trained and
  throughput, the tokenizer it was trained with (JSON of the `tokenizers` library) and its
  corpus (per domain: source, digest, characters and tokens of each split);
- lm_eval: held-out loss per domain at each snapshot step (for an MoE also with only the
  top-weighted expert at every layer);
- lm_checkpoints: its weights at each snapshot step, one row per tensor (flattened, shape
  as JSON);
- lm_lens, lm_lens_experts: MoE Lens per domain and layer, and per expert
  (engine/families/lm/lens.py).
The training log goes to store.metrics (loss, lb_loss, router_grad_norm, lr).
Losses are mean next-token cross-entropies in nats; the views add perplexities exp(loss).
"""

from __future__ import annotations

LM_MIGRATION = """
CREATE TABLE IF NOT EXISTS store.lm_runs (
    run_id BIGINT NOT NULL,
    model VARCHAR,
    n_layers INTEGER,
    d_model INTEGER,
    n_heads INTEGER,
    context INTEGER,
    d_mlp INTEGER,
    d_expert INTEGER,
    vocab_size INTEGER,
    vocab_used INTEGER,
    n_params BIGINT,
    n_active_params BIGINT,
    tokens_trained BIGINT,
    tokens_per_second DOUBLE,
    tokenizer VARCHAR,
    corpus VARCHAR
);

CREATE TABLE IF NOT EXISTS store.lm_eval (
    run_id BIGINT NOT NULL,
    step INTEGER,
    domain VARCHAR,
    loss DOUBLE,
    loss_top1 DOUBLE,
    tokens INTEGER
);

CREATE TABLE IF NOT EXISTS store.lm_checkpoints (
    run_id BIGINT NOT NULL,
    step INTEGER,
    tensor VARCHAR,
    shape VARCHAR,
    data FLOAT[]
);

CREATE TABLE IF NOT EXISTS store.lm_lens (
    run_id BIGINT NOT NULL,
    domain VARCHAR,
    layer INTEGER,
    cos_mlp DOUBLE,
    cos_hidden DOUBLE,
    lens_loss DOUBLE,
    lens_loss_top1 DOUBLE,
    share_top1 DOUBLE,
    share_top_quarter DOUBLE,
    n_for_half INTEGER,
    entropy DOUBLE,
    entropy_norm DOUBLE
);

CREATE TABLE IF NOT EXISTS store.lm_lens_experts (
    run_id BIGINT NOT NULL,
    domain VARCHAR,
    layer INTEGER,
    expert INTEGER,
    weight_share DOUBLE,
    route_fraction DOUBLE,
    ablated_loss DOUBLE
);

CREATE OR REPLACE VIEW lm_runs AS
SELECT r.run_id, r.experiment_id, l.model, r.seed, r.point AS variant, l.n_layers,
       l.d_model, l.n_heads, l.context, l.d_mlp, l.d_expert, r.n_experts, r.k, r.gating,
       r.router_init, r.lb_coef, l.vocab_size, l.vocab_used, l.n_params, l.n_active_params,
       r.steps, r.batch_size, r.lr, l.tokens_trained, l.tokens_per_second, r.train_seconds,
       r.final_loss, r.eval_loss, exp(r.eval_loss) AS eval_perplexity,
       r.lens_top1_cosine, r.device, l.corpus
FROM store.lm_runs l JOIN store.runs r USING (run_id);

CREATE OR REPLACE VIEW lm_tokenizers AS
SELECT run_id, tokenizer FROM store.lm_runs;

CREATE OR REPLACE VIEW lm_eval AS
SELECT run_id, step, domain, loss, exp(loss) AS perplexity, loss_top1,
       exp(loss_top1) AS perplexity_top1, exp(loss_top1 - loss) - 1 AS top1_increase, tokens
FROM store.lm_eval;

CREATE OR REPLACE VIEW lm_checkpoints AS
SELECT run_id, step, tensor, shape, data FROM store.lm_checkpoints;

CREATE OR REPLACE VIEW lm_lens AS
SELECT run_id, domain, layer, share_top1, share_top_quarter, n_for_half, entropy,
       entropy_norm, cos_mlp, cos_hidden, lens_loss, exp(lens_loss) AS lens_perplexity,
       lens_loss_top1, exp(lens_loss_top1) AS lens_perplexity_top1
FROM store.lm_lens;

CREATE OR REPLACE VIEW lm_lens_experts AS
SELECT x.run_id, x.domain, x.layer, x.expert, x.weight_share, x.route_fraction,
       x.ablated_loss, exp(x.ablated_loss) AS ablated_perplexity,
       exp(x.ablated_loss - e.loss) - 1 AS ablated_increase
FROM store.lm_lens_experts x
LEFT JOIN (SELECT run_id, domain, arg_max(loss, step) AS loss FROM store.lm_eval
           GROUP BY run_id, domain) e ON e.run_id = x.run_id AND e.domain = x.domain;
"""

# The views this migration adds to the documented ones (db.migrations.PUBLIC_VIEWS), and the
# tables a unit's chunk may carry (db.migrations.CHUNK_TABLES).
NEW_VIEWS: tuple[str, ...] = ("lm_runs", "lm_tokenizers", "lm_eval", "lm_checkpoints",
                              "lm_lens", "lm_lens_experts")
NEW_TABLES: tuple[str, ...] = ("lm_runs", "lm_eval", "lm_checkpoints", "lm_lens",
                               "lm_lens_experts")
