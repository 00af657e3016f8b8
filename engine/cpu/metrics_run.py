"""Run the compiled metrics (engine/cpu/metrics.py) over a unit's instances on every core:
one range of instances per thread, the kernels release the GIL."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import lens as lens_kernel
from . import metrics as K


def threads() -> int:
    """The trainer's thread count (OMP_NUM_THREADS, else the cores this process may use)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))


def over_instances(kernel, n_inst: int, *args) -> None:
    n = max(1, min(threads(), n_inst))
    if n == 1:
        kernel(0, n_inst, *args)
        return
    bounds = [(n_inst * c // n, n_inst * (c + 1) // n) for c in range(n)]
    with ThreadPoolExecutor(n) as pool:
        for job in [pool.submit(kernel, lo, hi, *args) for lo, hi in bounds]:
            job.result()


def uniforms(n_samples: int, n: int, seed: int) -> np.ndarray:
    """The shared uniforms of data.sample_numpy (same seed, same draw)."""
    return np.random.default_rng(seed).random((n_samples, n), dtype=np.float32)


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def routing_stats(W, b, router, k: int, p, last_scale, mono, random_ties, n_samples: int,
                  seed: int) -> dict[str, np.ndarray]:
    """metrics.routing_stats on data.sample_numpy(p, last_scale, n_samples, seed)."""
    W, b, router = _f64(W), _f64(b), _f64(router)
    n_inst, E, _, n = W.shape
    out = {"usage": np.empty((n_inst, E)), "route_fraction": np.empty((n_inst, E)),
           "route_given_active": np.empty((n_inst, E, n)),
           "usage_when_mono_active": np.empty((n_inst, E)),
           "usage_when_only_mono_active": np.empty((n_inst, E)),
           "lens_top1_cosine": np.empty(n_inst)}
    shared = np.zeros(n_inst, np.bool_) if random_ties is None \
        else np.ascontiguousarray(random_ties, dtype=np.bool_)
    over_instances(K.routing_stats, n_inst, W, b, router, uniforms(n_samples, n, seed),
                   np.ascontiguousarray(p, dtype=np.float32),
                   np.ascontiguousarray(last_scale, dtype=np.float32), int(k),
                   np.ascontiguousarray(mono, dtype=np.bool_), shared, *out.values())
    return out


def dense_usage(router, k: int, mono, x) -> dict[str, np.ndarray]:
    """metrics.dense_usage: router (inst, E, n), x (N, n) the shared dense inputs."""
    router = _f64(router)
    n_inst, E, _ = router.shape
    out = {"usage": np.empty((n_inst, E)), "when_mono_active": np.empty((n_inst, E)),
           "when_only_mono": np.empty((n_inst, E))}
    over_instances(K.dense_usage, n_inst, router, int(k),
                   np.ascontiguousarray(mono, dtype=np.bool_), _f64(x), *out.values())
    return out


def lens(W, b, router, k: int, gating: str, importance, p, last_scale, n_samples: int,
         seed: int, per_feature: float) -> dict[str, np.ndarray]:
    """lens.lens's sums on data.sample_numpy(p, last_scale, n_samples, seed), as means."""
    W, b, router = _f64(W), _f64(b), _f64(router)
    n_inst, E, _, n = W.shape
    usage, ablation = np.empty((n_inst, E)), np.empty((n_inst, E))
    full, top1 = np.empty(n_inst), np.empty(n_inst)
    over_instances(lens_kernel.lens, n_inst, W, b, router, uniforms(n_samples, n, seed),
                   np.ascontiguousarray(p, dtype=np.float32),
                   np.ascontiguousarray(last_scale, dtype=np.float32), int(k),
                   gating == "switch", _f64(importance), usage, full, top1, ablation)
    scale = per_feature / n_samples
    return {"usage": usage / n_samples, "full_loss": full * scale, "top1_loss": top1 * scale,
            "ablation_loss": ablation * scale}
