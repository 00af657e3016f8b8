"""An imported phase diagram (the authors' published weights) as store tables, so the lab's
views, figures and comparisons treat it like a trained experiment.

The file holds, per cell, the best seed's expert weights and its last training loss; no
biases, router or seeds. Every metric that needs only W is recomputed (norms, superposition,
dimensionality, specialisation, monosemantic); those that need the router or the data
(usage, occupancy, features per dimension) are NULL. Each run's stored config says what is
known of how it was trained (the authors' code: xavier everywhere, renormalised top-k, mean
loss over features, α = 0.01, best seed by final loss) and where it came from.
"""

from __future__ import annotations

import json

import numpy as np

from . import metrics as M


def run_config(n: int, m: int, E: int, k: int, sparsity: float, last_importance: float,
               config: dict, source: dict) -> dict:
    return {
        "model": {"kind": "dense" if E == 1 else "moe", "n_features": n, "d_hidden": m,
                  "n_experts": E, "k": k, "gating": "renorm", "router_init": "xavier",
                  "bias_init": "xavier", "expert_init": "authors",
                  "tie_break": "torch.topk"},  # whatever their topk did: not ours to name
        "data": {"sparsity": sparsity, "importance": "uniform",
                 "last_importance": last_importance, "last_scale": 1.0},
        "train": {"steps": config.get("steps"), "seeds": config.get("n_models_per_cell"),
                  "lb_coef": 0.01, "feature_reduction": "mean", "select": "final_loss"},
        "source": source,
    }


def tables(W: np.ndarray, grid_keys: np.ndarray, final_losses: np.ndarray, config: dict,
           source: dict) -> dict:
    """The chunk for Store.write_runs: one chosen run per cell. W (cells, E, m, n)."""
    W = np.asarray(W, dtype=np.float64)
    cells, E, m, n = W.shape
    k = int(config.get("n_active_experts", 1))
    sparsity = np.round(grid_keys[:, 0].astype(np.float64), 6)
    last = np.round(grid_keys[:, 1].astype(np.float64), 6)
    idx = np.arange(cells)
    D = M.dimensionality(W)
    mono = M.monosemantic(W)
    importance = np.ones((cells, n))
    importance[:, -1] = last
    none = lambda size: [None] * size  # noqa: E731
    runs = {
        "local_index": idx, "status": ["done"] * cells,
        "kind": ["dense" if E == 1 else "moe"] * cells, "n_features": [n] * cells,
        "d_hidden": [m] * cells, "n_experts": [E] * cells, "k": [k] * cells,
        "gating": ["renorm"] * cells, "router_init": ["xavier"] * cells,
        "sparsity": sparsity, "last_importance": last, "last_scale": np.ones(cells),
        "seed": none(cells), "chosen": [True] * cells, "point": idx,
        "steps": [config.get("steps")] * cells, "lb_coef": np.full(cells, 0.01),
        "final_loss": np.asarray(final_losses, dtype=np.float64),
        "capacity": D.sum((1, 2)),
        "config": [json.dumps(run_config(n, m, E, k, float(s), float(li), config,
                                         {**source, "cell": int(i)}))
                   for i, (s, li) in enumerate(zip(sparsity, last, strict=True))],
    }
    experts = {
        "local_index": np.repeat(idx, E), "expert": np.tile(np.arange(E), cells),
        "frobenius_sq": M.frobenius_sq(W).ravel(), "n_monosemantic": mono.sum(-1).ravel(),
    }
    features = {
        "local_index": np.repeat(idx, E * n),
        "expert": np.tile(np.repeat(np.arange(E), n), cells),
        "feature": np.tile(np.arange(n), cells * E),
        "importance": np.repeat(importance[:, None, :], E, axis=1).ravel(),
        "norm": M.feature_norms(W).ravel(),
        "superposition": M.superposition(W).ravel(),
        "superposition_all": M.superposition(W, include_self=True).ravel(),
        "dimensionality": D.ravel(),
        "specialization": M.specialization(W).ravel(),
        "monosemantic": mono.ravel(),
    }
    weights = {
        "local_index": np.repeat(idx, E), "expert": np.tile(np.arange(E), cells),
        "W": W.reshape(cells * E, -1).astype(np.float32),
        "b": none(cells * E), "router": none(cells * E),
    }
    return {"runs": runs, "experts": experts, "features": features, "weights": weights}
