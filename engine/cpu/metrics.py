"""The per-run metrics after training, compiled: routing statistics, Table 1 on dense inputs
and MoE Lens, one instance at a time, one sample at a time, nothing but a few E- and n-sized
buffers in memory.

The NumPy versions in engine/metrics.py and engine/lens.py define what is computed (and the
tests hold these kernels to them); these do the same work without the (inst, samples, E, n)
intermediates that made the NumPy path memory-bound, on every core (threads over instance
ranges, as the trainer does). Inputs are built here from the shared uniforms exactly as
data.sample_numpy builds them (float32, then float64).

Top-k with ties to the lowest expert: e is chosen iff #{j: v_j > v_e} + #{j < e: v_j = v_e} < k
(what a stable descending sort does). With random ties (metrics.top_k_weights), the experts
tied at the k-th value share its remaining places.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _sample(u, pp, ls, j, x):
    """x = where(u < p, u / p, 0) in float32, the last feature scaled (data.sample_numpy)."""
    n = x.shape[0]
    for i in range(n):
        v = u[j, i] / pp[i] if u[j, i] < pp[i] else np.float32(0.0)
        if i == n - 1:
            v = v * ls
        x[i] = np.float64(v)


@njit(nogil=True, cache=True, inline="always")
def _logits(R, x, z):
    E, n = R.shape
    for e in range(E):
        s = 0.0
        for i in range(n):
            s += R[e, i] * x[i]
        z[e] = s


@njit(nogil=True, cache=True, inline="always")
def _softmax_logits(R, x, probs):
    E = R.shape[0]
    _logits(R, x, probs)
    top = probs[0]
    for e in range(1, E):
        top = max(top, probs[e])
    total = 0.0
    for e in range(E):
        probs[e] = math.exp(probs[e] - top)
        total += probs[e]
    for e in range(E):
        probs[e] /= total


@njit(nogil=True, cache=True, inline="always")
def _top_k(v, k, skip, out):
    """out[e] = 1.0 if e is in the top k of v (ties to the lower index), else 0; expert skip
    (−1: none) is left out, as if removed."""
    E = v.shape[0]
    if k == 1:  # the first maximum, without ranking every expert
        best = -1
        for e in range(E):
            out[e] = 0.0
            if e != skip and (best < 0 or v[e] > v[best]):
                best = e
        if best >= 0:
            out[best] = 1.0
        return
    for e in range(E):
        out[e] = 0.0
        if e == skip:
            continue
        rank = 0
        for j in range(E):
            if j != skip and (v[j] > v[e] or (v[j] == v[e] and j < e)):
                rank += 1
        if rank < k:
            out[e] = 1.0


@njit(nogil=True, cache=True, inline="always")
def _top_k_shared(v, k, out):
    """Random ties: experts above the k-th value get 1, those tied at it share what is left."""
    E = v.shape[0]
    kth = v[0]
    for e in range(E):
        above = 0
        same = 0
        for j in range(E):
            if v[j] > v[e]:
                above += 1
            elif v[j] == v[e]:
                same += 1
        if above < k <= above + same:
            kth = v[e]
            break
    above = 0
    tied = 0
    for e in range(E):
        if v[e] > kth:
            above += 1
        elif v[e] == kth:
            tied += 1
    for e in range(E):
        out[e] = 1.0 if v[e] > kth else ((k - above) / tied if v[e] == kth else 0.0)


@njit(nogil=True, cache=True, inline="always")
def _choose(v, k, shared, out):
    if k >= v.shape[0]:
        out[:] = 1.0
    elif shared:
        _top_k_shared(v, k, out)
    else:
        _top_k(v, k, -1, out)


@njit(nogil=True, cache=True, inline="always")
def _expert_out(W, b, e, x, h, y):
    """y = ReLU(W_eᵀ W_e x + b_e) (h: the m hidden values)."""
    m, n = W.shape[1], W.shape[2]
    for r in range(m):
        s = 0.0
        for i in range(n):
            s += W[e, r, i] * x[i]
        h[r] = s
    for i in range(n):
        s = b[e, i]
        for r in range(m):
            s += W[e, r, i] * h[r]
        y[i] = s if s > 0.0 else 0.0


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
            _sample(u, pp[inst], ls[inst], j, x)
            _softmax_logits(R, x, probs)
            _choose(probs, k, shared[inst], chosen)
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
                    _logits(R, xe, pprobs)
                    _choose(pprobs, k, shared[inst], pick)
                    only_count[e] += 1.0
                    only_hits[e] += pick[e]
            if k > 1:
                # MoE Lens: the top-weighted expert's share of the output
                full[:] = 0.0
                top = 0
                for e in range(E):
                    _expert_out(W[inst], b[inst], e, x, h, y[e])
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
    logits = np.empty(E)
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
                logits[f] = z
            _top_k(logits, k, -1, pick)
            for e in range(E):
                usage[inst, e] += pick[e]
            for e in range(E):
                if not has[e]:
                    continue
                # clamping e's monosemantic features to 1.0 adds (1 − x_f)·R[:, f]
                for f in range(E):
                    z = logits[f]
                    for i in range(n):
                        if mono[inst, e, i]:
                            z += (1.0 - x[j, i]) * R[f, i]
                    clamped[f] = z
                _top_k(clamped, k, -1, pick)
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
                _top_k(clamped, k, -1, pick)
                when_only[inst, e] = pick[e]


@njit(nogil=True, cache=True, inline="always")
def _lens_loss(x, y, g, importance):
    """Σ_i I_i (x_i − Σ_e g_e y_e,i)² of one sample."""
    E, n = y.shape
    loss = 0.0
    for i in range(n):
        out = 0.0
        for e in range(E):
            out += g[e] * y[e, i]
        d = x[i] - out
        loss += importance[i] * d * d
    return loss


@njit(nogil=True, cache=True, inline="always")
def _gates(probs, chosen, switch, g):
    total = 0.0
    for e in range(probs.shape[0]):
        g[e] = probs[e] * chosen[e]
        total += g[e]
    if not switch:
        for e in range(probs.shape[0]):
            g[e] = g[e] / (total if total > 0.0 else 1.0)


@njit(nogil=True, cache=True)
def lens(lo, hi, W, b, router, u, pp, ls, k, switch, importance, usage, full_loss, top1_loss,
         ablation):
    """lens.lens for instances lo … hi − 1 (the per-sample sums; the caller divides)."""
    N = u.shape[0]
    E, m, n = W.shape[1], W.shape[2], W.shape[3]
    x = np.empty(n)
    probs = np.empty(E)
    chosen = np.empty(E)
    pick = np.empty(E)
    g = np.empty(E)
    h = np.empty(m)
    y = np.empty((E, n))
    for inst in range(lo, hi):
        R = router[inst]
        imp = importance[inst]
        usage[inst, :] = 0.0
        full_loss[inst] = 0.0
        top1_loss[inst] = 0.0
        ablation[inst, :] = 0.0
        for j in range(N):
            _sample(u, pp[inst], ls[inst], j, x)
            _softmax_logits(R, x, probs)
            for e in range(E):
                _expert_out(W[inst], b[inst], e, x, h, y[e])
            _top_k(probs, k, -1, chosen)
            _gates(probs, chosen, switch, g)
            full = _lens_loss(x, y, g, imp)
            full_loss[inst] += full
            total = 0.0
            for e in range(E):
                total += g[e]
            for e in range(E):
                usage[inst, e] += g[e] / max(total, 1e-30)
            if k == 1:  # the top-1 model is the model
                top1_loss[inst] += full
            else:
                _top_k(probs, 1, -1, pick)
                _gates(probs, pick, switch, g)
                top1_loss[inst] += _lens_loss(x, y, g, imp)
            for e in range(E):
                if chosen[e] == 0.0:  # removing an expert the input does not use changes
                    ablation[inst, e] += full  # nothing: the same gates, the same loss
                    continue
                # e removed: its place goes to the next in line
                _top_k(probs, k, e, pick)
                _gates(probs, pick, switch, g)
                ablation[inst, e] += _lens_loss(x, y, g, imp)
