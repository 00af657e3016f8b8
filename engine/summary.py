"""Every metric of a batch of trained instances, as table columns for the store.

Used after training and again from stored weights (the round-trip test), so it depends
only on weights, the data settings and a fixed sample seed.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M

ROUTING_SAMPLES = 4096
ROUTING_SEED = 20250101  # fixed: metrics recomputed later see the same inputs
DENSE_SEED = 20250102  # Table 1's dense inputs, the same for every run


def summarize(W: np.ndarray, b: np.ndarray, router: np.ndarray, k: int, p: np.ndarray,
              last_scale: np.ndarray, importance: np.ndarray,
              th: M.Thresholds = M.DEFAULT_THRESHOLDS, runs=None, init_router=None
              ) -> dict[str, dict[str, np.ndarray]]:
    """Per-run, per-expert and per-feature metric columns (without run identity).

    W (inst, E, m, n), b/router (inst, E, n), p/importance (inst, n), last_scale (inst,).
    runs (the RunSpecs, optional) adds what only the configs know: their tie-breaking rule
    for the routing statistics, and each expert's features at initialisation (occupied_init,
    NULL without runs; init_router (inst, E, n), when the trainer kept it, saves drawing
    the initial weights again).
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
            "occupied_init": _occupied_init(runs, k, n_inst * E * n, init_router),
            "route_given_active": rs.route_given_active.ravel(),
            "global_dimensionality": np.repeat(
                M.global_dimensionality(D, rs.route_given_active)[:, None, :], E, 1).ravel(),
        },
    }


def _routing_in_chunks(W, b, router, k, p, last_scale, mono, random_ties) -> M.RoutingStats:
    """Routing statistics on a fixed sample (data.sample_numpy's), compiled, on every core:
    the same numbers as metrics.routing_stats without its (inst, samples, E) arrays."""
    from .cpu.metrics_run import routing_stats
    return M.RoutingStats(**routing_stats(W, b, router, k, p, last_scale, mono, random_ties,
                                          ROUTING_SAMPLES, ROUTING_SEED))


def _dense_usage_in_chunks(router, k, mono) -> M.DenseUsage:
    """Table 1's dense-input usages on one fixed sample that every instance shares."""
    from .cpu.metrics_run import dense_usage
    n = router.shape[-1]
    x = np.random.default_rng(DENSE_SEED).random((ROUTING_SAMPLES, n))
    return M.DenseUsage(**dense_usage(router, k, mono, x))


def _occupied_init(runs, k: int, size: int, init_router=None) -> list:
    """Expert e occupied feature i at initialisation (the one-hot e_i routed to it under the
    initial router): for k-hot routers, e's block. None (NULL) without the runs."""
    if runs is None:
        return [None] * size
    if init_router is None:
        from .inits import init_run
        init_router = np.stack([init_run(r)[2] for r in runs])
    routers = np.asarray(init_router, dtype=np.float64)
    return M.occupied(routers, k).ravel().tolist()
