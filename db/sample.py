"""Synthetic chunks in the engine's format, for store tests and write benchmarks.

Values are random, not trained; only the shapes and column types match the engine's.
"""

from __future__ import annotations

import json
import time

import numpy as np


def synthetic_chunk(
    n_runs: int,
    n_features: int = 3,
    n_experts: int = 3,
    d_hidden: int = 2,
    n_metrics: int = 5,
    seed: int = 0,
) -> dict[str, dict[str, object]]:
    rng = np.random.default_rng(seed)
    run = np.arange(n_runs)
    now = time.time()
    runs = {
        "local_index": run,
        "status": ["done"] * n_runs,
        "kind": ["moe" if n_experts > 1 else "dense"] * n_runs,
        "n_features": np.full(n_runs, n_features),
        "d_hidden": np.full(n_runs, d_hidden),
        "n_experts": np.full(n_runs, n_experts),
        "k": np.ones(n_runs, dtype=np.int64),
        "gating": ["softmax"] * n_runs,
        "router_init": ["normal"] * n_runs,
        "sparsity": rng.uniform(0, 1, n_runs),
        "last_importance": rng.uniform(0, 1, n_runs),
        "last_scale": rng.uniform(0, 1, n_runs),
        "seed": run % 10,
        "chosen": run % 10 == 0,
        "point": run // 10,
        "steps": np.full(n_runs, 1000),
        "batch_size": np.full(n_runs, 1024),
        "lr": np.full(n_runs, 1e-3),
        "weight_decay": np.zeros(n_runs),
        "lb_coef": np.zeros(n_runs),
        "device": ["cpu"] * n_runs,
        "started_at": np.full(n_runs, now - 1.0),
        "finished_at": np.full(n_runs, now),
        "train_seconds": np.full(n_runs, 1.0),
        "final_loss": rng.uniform(0, 1, n_runs),
        "eval_loss": rng.uniform(0, 1, n_runs),
        "fpd": rng.uniform(0, 1, n_runs),
        "capacity": rng.uniform(0, 1, n_runs),
        "lens_top1_cosine": np.full(n_runs, np.nan),
        "config": [json.dumps({"seed": int(s)}) for s in run % 10],
    }
    n_rows = n_runs * n_experts
    expert_run = np.repeat(run, n_experts)
    expert = np.tile(np.arange(n_experts), n_runs)
    experts = {
        "local_index": expert_run,
        "expert": expert,
        "usage": rng.uniform(0, 1, n_rows),
        "route_fraction": rng.uniform(0, 1, n_rows),
        "frobenius_sq": rng.uniform(0, 1, n_rows),
        "n_monosemantic": rng.integers(0, n_features + 1, n_rows),
        "usage_when_mono_active": rng.uniform(0, 1, n_rows),
        "usage_when_only_mono_active": rng.uniform(0, 1, n_rows),
    }
    n_feat_rows = n_rows * n_features
    features = {
        "local_index": np.repeat(run, n_experts * n_features),
        "expert": np.tile(np.repeat(np.arange(n_experts), n_features), n_runs),
        "feature": np.tile(np.arange(n_features), n_rows),
        **{
            column: rng.uniform(0, 1, n_feat_rows)
            for column in (
                "importance", "norm", "bias", "superposition", "superposition_all",
                "dimensionality", "specialization", "route_given_active", "global_dimensionality",
            )
        },
        "monosemantic": rng.uniform(0, 1, n_feat_rows) > 0.5,
        "occupied": rng.uniform(0, 1, n_feat_rows) > 0.2,
    }
    metrics = {
        "local_index": np.repeat(run, n_metrics),
        "step": np.tile(np.arange(n_metrics) * 100, n_runs),
        "name": ["loss"] * (n_runs * n_metrics),
        "value": rng.uniform(0, 1, n_runs * n_metrics),
    }
    weights = {
        "local_index": expert_run,
        "expert": expert,
        "W": rng.normal(size=(n_rows, d_hidden * n_features)).astype(np.float32),
        "b": rng.normal(size=(n_rows, n_features)).astype(np.float32),
        "router": rng.normal(size=(n_rows, n_features)).astype(np.float32),
    }
    return {
        "runs": runs, "experts": experts, "features": features,
        "metrics": metrics, "weights": weights,
    }
