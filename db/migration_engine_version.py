"""Schema 7: runs.engine_version, the version of the engine that trained the run
(engine/version.py; NULL for runs stored before, which engine 1 trained, and for imported
runs). The runs view keeps its columns and appends the new one."""

from __future__ import annotations

ENGINE_VERSION_MIGRATION = """
ALTER TABLE store.runs ADD COLUMN IF NOT EXISTS engine_version INTEGER;

CREATE OR REPLACE VIEW runs AS
SELECT run_id, experiment_id, status, kind, n_features, d_hidden, n_experts, k, gating,
       router_init, sparsity, last_importance, last_scale, seed, chosen, point, steps,
       batch_size, lr, weight_decay, lb_coef, device, started_at, finished_at, train_seconds,
       final_loss, eval_loss, fpd, capacity, lens_top1_cosine, config,
       coalesce(json_extract_string(config, '$.model.expert_init'), 'per_expert')
           AS expert_init,
       coalesce(json_extract_string(config, '$.model.tie_break'), 'lowest') AS tie_break,
       json_extract_string(config, '$.source.file') AS imported_from,
       engine_version
FROM store.runs;
"""
