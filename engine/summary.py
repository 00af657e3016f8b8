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
DENSE_SEED = 20250102  # Table 1's dense inputs, the same for every run
_CHUNK_ELEMENTS = 1 << 22


def summarize(W: np.ndarray, b: np.ndarray, router: np.ndarray, k: int, p: np.ndarray,
              last_scale: np.ndarray, importance: np.ndarray,
              th: M.Thresholds = M.DEFAULT_THRESHOLDS, runs=None
              ) -> dict[str, dict[str, np.ndarray]]:
    """Per-run, per-expert and per-feature metric columns (without run identity).

    W (inst, E, m, n), b/router (inst, E, n), p/importance (inst, n), last_scale (inst,).
    runs (the RunSpecs, optional) adds what only the configs know: their tie-breaking rule
    for the routing statistics, and each expert's features at initialisation (occupied_init,
    NULL without runs).
    """
    W, b, router = (np.asarray(a, dtype=np.float64) for a in (W, b, router))
    n_inst, E, m, n = W.shape
    norms = M.feature_norms(W)
    D = M.dimensionality(W)
    mono = M.monosemantic(W, th)
    random_ties = None if runs is None else np.array(
        [r.model.tie_break == "random" for r in runs])
    rs = _routing_in_chunks(W, b, router, k, p, last_scale, mono, random_ties)
    du = _dense_usage_in_chunks(router, k, mono)
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
            # Table 1 the authors' way: on dense inputs (every feature active)
            "usage_dense": du.usage.ravel(),
            "usage_dense_mono_active": du.when_mono_active.ravel(),
            "usage_dense_only_mono": du.when_only_mono.ravel(),
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
            "occupied_init": _occupied_init(runs, k, n_inst * E * n),
            "route_given_active": rs.route_given_active.ravel(),
            "global_dimensionality": np.repeat(
                M.global_dimensionality(D, rs.route_given_active)[:, None, :], E, 1).ravel(),
        },
    }


def _routing_in_chunks(W, b, router, k, p, last_scale, mono, random_ties) -> M.RoutingStats:
    """Routing statistics on a fixed sample, a slice of instances at a time to bound memory."""
    n_inst, E, _, n = W.shape
    per_inst = ROUTING_SAMPLES * max(n, E) * (E if k > 1 else 1)
    step = max(1, _CHUNK_ELEMENTS // per_inst)
    parts = []
    for s in range(0, n_inst, step):
        sl = slice(s, s + step)
        x = sample_numpy(p[sl], last_scale[sl], ROUTING_SAMPLES, ROUTING_SEED).astype(np.float64)
        parts.append(M.routing_stats(W[sl], b[sl], router[sl], x, k, mono[sl],
                                     None if random_ties is None else random_ties[sl]))
    return _joined(M.RoutingStats, parts)


def _dense_usage_in_chunks(router, k, mono) -> M.DenseUsage:
    """Table 1's dense-input usages on one fixed sample that every instance shares."""
    n_inst, E, n = router.shape
    x = np.random.default_rng(DENSE_SEED).random((ROUTING_SAMPLES, n))
    step = max(1, _CHUNK_ELEMENTS // (ROUTING_SAMPLES * max(n, E)))
    return _joined(M.DenseUsage, [M.dense_usage(router[s:s + step], k, mono[s:s + step], x)
                                  for s in range(0, n_inst, step)])


def _joined(kind, parts):
    return kind(*(np.concatenate([getattr(q, f) for q in parts])
                  for f in kind.__dataclass_fields__))


def _occupied_init(runs, k: int, size: int) -> list:
    """Expert e occupied feature i at initialisation (the one-hot e_i routed to it under the
    initial router): for k-hot routers, e's block. None (NULL) without the runs."""
    if runs is None:
        return [None] * size
    from .inits import init_run
    routers = np.stack([init_run(r)[2] for r in runs]).astype(np.float64)
    return M.occupied(routers, k).ravel().tolist()
