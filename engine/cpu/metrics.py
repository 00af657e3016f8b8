"""The per-run metrics after training, compiled: routing statistics and Table 1 on dense
inputs, one instance at a time, one sample at a time, nothing but a few E- and n-sized
buffers in memory (MoE Lens: engine/cpu/lens.py).

The NumPy versions in engine/metrics.py define what is computed (and the tests hold these
kernels to them); these do the same work without the (inst, samples, E, n) intermediates
that made the NumPy path memory-bound, on every core (threads over instance ranges, as the
trainer does: engine/cpu/metrics_run.py). Inputs are built from the shared uniforms exactly
as data.sample_numpy builds them (float32, then float64).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .route import choose, expert_out, logits, sample, softmax_logits, top_k


@njit(nogil=True, cache=True)
def routing_stats(lo, hi, W, b, router, u, pp, ls, k, mono, shared, usage, route_fraction,
                  alpha, usage_any, usage_only, cosine):
    """metrics.routing_stats for instances lo … hi − 1, into the output arrays."""
    N = u.shape[0]
    E, m, n = W.shape[1], W.shape[2], W.shape[3]
    x = np.empty(n)
    xe = np.empty(n)
    probs = np.empty(E)
    chosen = np.empty(E)
    gates = np.empty(E)
    pick = np.empty(E)
    pprobs = np.empty(E)
    n_active = np.empty(n)
    any_hits = np.empty(E)
    any_count = np.empty(E)
    only_hits = np.empty(E)
    only_count = np.empty(E)
    h = np.empty(m)
    y = np.empty((E, n))
    full = np.empty(n)
    for inst in range(lo, hi):
        R = router[inst]
        usage[inst, :] = 0.0
        route_fraction[inst, :] = 0.0
        alpha[inst] = 0.0
        n_active[:] = 0.0
        any_hits[:] = 0.0
        any_count[:] = 0.0
        only_hits[:] = 0.0
        only_count[:] = 0.0
        cos_sum = 0.0
        cos_n = 0
        for j in range(N):
            sample(u, pp[inst], ls[inst], j, x)
            softmax_logits(R, x, probs)
            choose(probs, k, shared[inst], chosen)
            total = 0.0
            for e in range(E):
                total += probs[e] * chosen[e]
            for e in range(E):
                gates[e] = probs[e] * chosen[e] / total
                usage[inst, e] += gates[e]
                route_fraction[inst, e] += chosen[e]
            for i in range(n):
                if x[i] > 0.0:
                    n_active[i] += 1.0
                    for e in range(E):
                        alpha[inst, e, i] += chosen[e]
            for e in range(E):
                hit = False
                keep = False
                for i in range(n):
                    xe[i] = x[i] if mono[inst, e, i] else 0.0
                    keep = keep or xe[i] > 0.0
                    hit = hit or (mono[inst, e, i] and x[i] > 0.0)
                if hit:
                    any_count[e] += 1.0
                    any_hits[e] += chosen[e]
                if keep:
                    # only e's monosemantic features active: route the sample reduced to
                    # them (softmax keeps the order: the top-k of the logits is that of probs)
                    logits(R, xe, pprobs)
                    choose(pprobs, k, shared[inst], pick)
                    only_count[e] += 1.0
                    only_hits[e] += pick[e]
            if k > 1:
                # MoE Lens: the top-weighted expert's share of the output
                full[:] = 0.0
                top = 0
                for e in range(E):
                    expert_out(W[inst], b[inst], e, x, h, y[e])
                    for i in range(n):
                        full[i] += gates[e] * y[e, i]
                    if gates[e] > gates[top]:
                        top = e
                num = 0.0
                a2 = 0.0
                f2 = 0.0
                for i in range(n):
                    t = gates[top] * y[top, i]
                    num += t * full[i]
                    a2 += t * t
                    f2 += full[i] * full[i]
                den = math.sqrt(a2) * math.sqrt(f2)
                if den > 0.0:
                    cos_sum += num / den
                    cos_n += 1
        for e in range(E):
            usage[inst, e] /= N
            route_fraction[inst, e] /= N
            for i in range(n):
                alpha[inst, e, i] = alpha[inst, e, i] / n_active[i] if n_active[i] > 0 \
                    else np.nan
            usage_any[inst, e] = any_hits[e] / any_count[e] if any_count[e] > 0 else np.nan
            usage_only[inst, e] = only_hits[e] / only_count[e] if only_count[e] > 0 \
                else np.nan
        cosine[inst] = cos_sum / cos_n if cos_n > 0 else np.nan


@njit(nogil=True, cache=True)
def dense_usage(lo, hi, router, k, mono, x, usage, when_active, when_only):
    """metrics.dense_usage for instances lo … hi − 1 on the shared dense inputs x (N, n):
    top-k on the logits, ties to the lowest expert."""
    N, n = x.shape
    E = router.shape[1]
    base = np.empty(E)
    clamped = np.empty(E)
    pick = np.empty(E)
    for inst in range(lo, hi):
        R = router[inst]
        usage[inst, :] = 0.0
        has = np.zeros(E, dtype=np.bool_)
        for e in range(E):
            for i in range(n):
                has[e] = has[e] or mono[inst, e, i]
            when_active[inst, e] = 0.0 if has[e] else np.nan
            when_only[inst, e] = np.nan
        for j in range(N):
            for f in range(E):
                z = 0.0
                for i in range(n):
                    z += x[j, i] * R[f, i]
                base[f] = z
            top_k(base, k, -1, pick)
            for e in range(E):
                usage[inst, e] += pick[e]
            for e in range(E):
                if not has[e]:
                    continue
                # clamping e's monosemantic features to 1.0 adds (1 − x_f)·R[:, f]
                for f in range(E):
                    z = base[f]
                    for i in range(n):
                        if mono[inst, e, i]:
                            z += (1.0 - x[j, i]) * R[f, i]
                    clamped[f] = z
                top_k(clamped, k, -1, pick)
                when_active[inst, e] += pick[e]
        for e in range(E):
            usage[inst, e] /= N
            if has[e]:
                when_active[inst, e] /= N
                for f in range(E):
                    z = 0.0
                    for i in range(n):
                        if mono[inst, e, i]:
                            z += R[f, i]
                    clamped[f] = z
                top_k(clamped, k, -1, pick)
                when_only[inst, e] = pick[e]
