"""MoE Lens on toy MoEs, compiled (the numbers of engine/lens.py's `lens`, sample by
sample, one instance at a time; engine/cpu/metrics_run.py runs it on every core)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .route import expert_out, sample, softmax_logits, top_k


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
            sample(u, pp[inst], ls[inst], j, x)
            softmax_logits(R, x, probs)
            for e in range(E):
                expert_out(W[inst], b[inst], e, x, h, y[e])
            top_k(probs, k, -1, chosen)
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
                top_k(probs, 1, -1, pick)
                _gates(probs, pick, switch, g)
                top1_loss[inst] += _lens_loss(x, y, g, imp)
            for e in range(E):
                if chosen[e] == 0.0:  # removing an expert the input does not use changes
                    ablation[inst, e] += full  # nothing: the same gates, the same loss
                    continue
                # e removed: its place goes to the next in line
                top_k(probs, k, e, pick)
                _gates(probs, pick, switch, g)
                ablation[inst, e] += _lens_loss(x, y, g, imp)
