"""One sample at a time, the routing the compiled metrics share (engine/cpu/metrics.py,
engine/cpu/lens.py): inputs built as data.sample_numpy builds them, logits and softmax,
top-k and each expert's output, on buffers of E or n values.

Top-k with ties to the lowest expert: e is chosen iff #{j: v_j > v_e} + #{j < e: v_j = v_e} < k
(what a stable descending sort does). With random ties (metrics.top_k_weights), the experts
tied at the k-th value share its remaining places.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def sample(u, pp, ls, j, x):
    """x = where(u < p, u / p, 0) in float32, the last feature scaled (data.sample_numpy)."""
    n = x.shape[0]
    for i in range(n):
        v = u[j, i] / pp[i] if u[j, i] < pp[i] else np.float32(0.0)
        if i == n - 1:
            v = v * ls
        x[i] = np.float64(v)


@njit(nogil=True, cache=True, inline="always")
def logits(R, x, z):
    E, n = R.shape
    for e in range(E):
        s = 0.0
        for i in range(n):
            s += R[e, i] * x[i]
        z[e] = s


@njit(nogil=True, cache=True, inline="always")
def softmax_logits(R, x, probs):
    E = R.shape[0]
    logits(R, x, probs)
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
def top_k(v, k, skip, out):
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
def top_k_shared(v, k, out):
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
def choose(v, k, shared, out):
    if k >= v.shape[0]:
        out[:] = 1.0
    elif shared:
        top_k_shared(v, k, out)
    else:
        top_k(v, k, -1, out)


@njit(nogil=True, cache=True, inline="always")
def expert_out(W, b, e, x, h, y):
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
