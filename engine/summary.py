"""Every metric of a batch of trained instances, as table columns for the store.

Used after training and again from stored weights (the round-trip test), so it depends
only on weights, the data settings and a fixed sample seed.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M
from .data import sample_numpy

ROUTING_SAMPLES = 4096
ROUTING_SEED = 20250101  # fixed: metrics recomputed later see the same inputs
_CHUNK_ELEMENTS = 1 << 22


def summarize(W: np.ndarray, b: np.ndarray, router: np.ndarray, k: int, p: np.ndarray,
              last_scale: np.ndarray, importance: np.ndarray,
              th: M.Thresholds = M.DEFAULT_THRESHOLDS) -> dict[str, dict[str, np.ndarray]]:
    """Per-run, per-expert and per-feature metric columns (without run identity).

    W (inst, E, m, n), b/router (inst, E, n), p/importance (inst, n), last_scale (inst,).
    """
    W, b, router = (np.asarray(a, dtype=np.float64) for a in (W, b, router))
    n_inst, E, m, n = W.shape
    norms = M.feature_norms(W)
    D = M.dimensionality(W)
    mono = M.monosemantic(W, th)
    rs = _routing_in_chunks(W, b, router, k, p, last_scale, mono)
    fro = M.frobenius_sq(W)
    inst_f = np.repeat(np.arange(n_inst), E * n)
    return {
        "runs": {
            "fpd": M.features_per_dimension(W, rs.usage, k),
            "capacity": D.sum((1, 2)),
            "lens_top1_cosine": rs.lens_top1_cosine,
        },
        "experts": {
            "inst": np.repeat(np.arange(n_inst), E),
            "expert": np.tile(np.arange(E), n_inst),
            "usage": rs.usage.ravel(),
            "route_fraction": rs.route_fraction.ravel(),
            "frobenius_sq": fro.ravel(),
            "n_monosemantic": mono.sum(-1).ravel(),
            "usage_when_mono_active": rs.usage_when_mono_active.ravel(),
            "usage_when_only_mono_active": rs.usage_when_only_mono_active.ravel(),
        },
        "features": {
            "inst": inst_f,
            "expert": np.tile(np.repeat(np.arange(E), n), n_inst),
            "feature": np.tile(np.arange(n), n_inst * E),
            "importance": np.repeat(importance[:, None, :], E, axis=1).ravel(),
            "norm": norms.ravel(),
            "bias": b.ravel(),
            "superposition": M.superposition(W).ravel(),
            "superposition_all": M.superposition(W, include_self=True).ravel(),
            "dimensionality": D.ravel(),
            "specialization": M.specialization(W).ravel(),
            "monosemantic": mono.ravel(),
            "occupied": M.occupied(router, k).ravel(),
            "route_given_active": rs.route_given_active.ravel(),
            "global_dimensionality": np.repeat(
                M.global_dimensionality(D, rs.route_given_active)[:, None, :], E, 1).ravel(),
        },
    }


def _routing_in_chunks(W, b, router, k, p, last_scale, mono) -> M.RoutingStats:
    """Routing statistics on a fixed sample, a slice of instances at a time to bound memory."""
    n_inst, E, _, n = W.shape
    per_inst = ROUTING_SAMPLES * max(n, E) * (E if k > 1 else 1)
    step = max(1, _CHUNK_ELEMENTS // per_inst)
    parts = []
    for s in range(0, n_inst, step):
        sl = slice(s, s + step)
        x = sample_numpy(p[sl], last_scale[sl], ROUTING_SAMPLES, ROUTING_SEED).astype(np.float64)
        parts.append(M.routing_stats(W[sl], b[sl], router[sl], x, k, mono[sl]))
    return M.RoutingStats(*(np.concatenate([getattr(q, f) for q in parts])
                            for f in M.RoutingStats.__dataclass_fields__))
