"""Metrics of SPEC as pure functions of weights (NumPy), vectorised over instances and experts.

Shapes: W (inst, E, m, n), b (inst, E, n), router (inst, E, n); x samples (inst, N, n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORM_EPS = 1e-3  # below this a feature has no direction: its sp and D are reported as 0


@dataclass(frozen=True)
class Thresholds:
    tau_norm: float = 0.5  # monosemantic: ‖W_i‖ ≥ tau_norm ...
    tau_int: float = 0.2  # ... and ‖(Ŵ_i·W_j)_{j≠i}‖ < tau_int


DEFAULT_THRESHOLDS = Thresholds()


def feature_norms(W: np.ndarray) -> np.ndarray:
    """‖W_iᵉ‖: (inst, E, n)."""
    return np.linalg.norm(W, axis=2)


def gram(W: np.ndarray) -> np.ndarray:
    """G_e = W_eᵀ W_e: (inst, E, n, n)."""
    return np.einsum("iemn,iemk->ienk", W, W)


def interference(W: np.ndarray) -> np.ndarray:
    """Ŵ_i·W_j (row i normalised), zero rows for features without direction: (inst, E, n, n)."""
    norms = feature_norms(W)
    G = gram(W)
    safe = np.where(norms > NORM_EPS, norms, 1.0)
    return np.where((norms > NORM_EPS)[..., None], G / safe[..., None], 0.0)


def superposition(W: np.ndarray, include_self: bool = False,
                  inter: np.ndarray | None = None) -> np.ndarray:
    """sp_i = Σ_{j≠i} (Ŵ_i·W_j)² (Elhage); include_self sums over all j as the authors'
    phase plots did. inter: interference(W), when the caller has it already."""
    inter2 = (interference(W) if inter is None else inter) ** 2
    total = inter2.sum(-1)
    if include_self:
        return total
    return total - np.diagonal(inter2, axis1=-2, axis2=-1)


def dimensionality(W: np.ndarray, inter: np.ndarray | None = None) -> np.ndarray:
    """D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)² ∈ [0, 1]; 0 for features without direction."""
    norms = feature_norms(W)
    denom = ((interference(W) if inter is None else inter) ** 2).sum(-1)
    ok = norms > NORM_EPS
    return np.where(ok, norms**2 / np.where(ok, denom, 1.0), 0.0)


def capacity(W: np.ndarray) -> np.ndarray:
    """Σ_e Σ_i D_iᵉ per instance; "efficient packing" is capacity ≈ E·m."""
    return dimensionality(W).sum((1, 2))


def specialization(W: np.ndarray) -> np.ndarray:
    """S_iᵉ = ‖W_iᵉ‖² / Σ_e' ‖W_iᵉ'‖²: (inst, E, n)."""
    n2 = feature_norms(W) ** 2
    tot = n2.sum(1, keepdims=True)
    return np.where(tot > 0, n2 / np.where(tot > 0, tot, 1.0), 0.0)


def monosemantic(W: np.ndarray, th: Thresholds | None = None,
                 inter: np.ndarray | None = None) -> np.ndarray:
    """Boolean (inst, E, n): strong feature with little interference from the others."""
    th = th or DEFAULT_THRESHOLDS
    inter = interference(W) if inter is None else inter
    off = inter - inter * np.eye(W.shape[-1])
    return (feature_norms(W) >= th.tau_norm) & (np.linalg.norm(off, axis=-1) < th.tau_int)


def frobenius_sq(W: np.ndarray) -> np.ndarray:
    """‖W_e‖_F²: (inst, E)."""
    return (W**2).sum((2, 3))


def occupied(router: np.ndarray, k: int) -> np.ndarray:
    """Expert e occupies feature i if the one-hot input e_i routes to e: (inst, E, n).

    The logits of e_i are column i of the router; with k = 1 the routed regions are cones,
    so any positive scale routes the same way. Ties go to the lower expert index, as topk.
    """
    logits = np.swapaxes(router, 1, 2)  # (inst, n, E)
    return np.swapaxes(_top_k_mask(logits, k), 1, 2)


def _top_k_mask(logits: np.ndarray, k: int) -> np.ndarray:
    E = logits.shape[-1]
    if k >= E:
        return np.ones(logits.shape, dtype=bool)
    if k == 1:  # argmax takes the first maximum, as the stable sort below: no sort needed
        mask = np.zeros(logits.shape, dtype=bool)
        np.put_along_axis(mask, logits.argmax(-1)[..., None], True, axis=-1)
        return mask
    order = np.argsort(-logits, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


def top_k_weights(scores: np.ndarray, k: int, random_ties: np.ndarray | None = None
                  ) -> np.ndarray:
    """The chance that each expert is in the top-k of scores (inst, …, E): 1 or 0, except
    that for the instances with random_ties (inst,) bool the experts tied at the k-th value
    share its remaining places (an all-zero input ties every expert: each gets k/E). The
    others send ties to the lowest index, as the trainers do."""
    lowest = _top_k_mask(scores, k).astype(np.float64)
    E = scores.shape[-1]
    if random_ties is None or not np.any(random_ties) or k >= E:
        return lowest
    # the k-th largest (for k = 1 the maximum, without a sort)
    kth = scores.max(-1, keepdims=True) if k == 1 else -np.sort(-scores, axis=-1)[..., k - 1:k]
    above = (scores > kth).sum(-1, keepdims=True)
    tied = scores == kth
    share = np.where(scores > kth, 1.0, np.where(tied, (k - above) / tied.sum(-1, keepdims=True),
                                                 0.0))
    pick = np.asarray(random_ties, dtype=bool).reshape((-1,) + (1,) * (scores.ndim - 1))
    return np.where(pick, share, lowest)


# ---------------------------------------------------------------- routing on samples

@dataclass
class RoutingStats:
    usage: np.ndarray  # (inst, E) batch mean of the renormalised gate g̃_e (Σ_e = 1)
    route_fraction: np.ndarray  # (inst, E) fraction of inputs whose top-k holds e
    route_given_active: np.ndarray  # (inst, E, n) α_iᵉ = P(e ∈ T | x_i > 0)
    usage_when_mono_active: np.ndarray  # (inst, E) P(e ∈ T | any mono feature of e active)
    usage_when_only_mono_active: np.ndarray  # (inst, E) ... | only e's mono features active
    lens_top1_cosine: np.ndarray  # (inst,) cos(top expert's output, full output); k>1 only


def routing_stats(W: np.ndarray, b: np.ndarray, router: np.ndarray, x: np.ndarray, k: int,
                  mono: np.ndarray, random_ties: np.ndarray | None = None) -> RoutingStats:
    """Routing statistics on a sample of inputs x (inst, N, n), with mono (inst, E, n); for
    instances with random_ties, tied inputs count as shared (top_k_weights)."""
    n_inst, E = router.shape[:2]
    R_t = np.swapaxes(router, 1, 2)  # (inst, n, E): batched matmuls beat einsum here
    probs = _softmax(x @ R_t)
    chosen = top_k_weights(probs, k, random_ties)
    gated = probs * chosen
    gates = gated / gated.sum(-1, keepdims=True)
    active = (x > 0).astype(np.float64)  # (inst, N, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        # α_iᵉ: among samples with x_i > 0, the share routed to e
        n_active = active.sum(1)  # (inst, n)
        routed_active = np.swapaxes(chosen, 1, 2) @ active
        alpha = routed_active / n_active[:, None, :]
        any_mono = (active @ np.swapaxes(mono, 1, 2).astype(np.float64)) > 0
        usage_any = (chosen * any_mono).sum(1) / any_mono.sum(1)
    usage_only = _usage_only_mono(router, x, k, mono, random_ties)
    cos = np.full(n_inst, np.nan)
    if 1 < k:
        cos = _top1_cosine(W, b, x, gates)
    return RoutingStats(gates.mean(1), chosen.mean(1), alpha, usage_any, usage_only, cos)


def _usage_only_mono(router, x, k, mono, random_ties=None) -> np.ndarray:
    """P(e ∈ T | only e's monosemantic features active). Such inputs are rare in random
    samples (at density 0.1, n = 100 almost never), so build them: keep only e's
    monosemantic features of each sample and route what is left."""
    n_inst, E, _ = router.shape
    out = np.full((n_inst, E), np.nan)
    R_t = np.swapaxes(router, 1, 2)
    for e in range(E):
        if not mono[:, e].any():
            continue  # no instance has a monosemantic feature in e: NaN everywhere
        xe = x * mono[:, e, None, :]
        probs = _softmax(xe @ R_t)
        to_e = top_k_weights(probs, k, random_ties)[..., e]
        keep = (xe > 0).any(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, e] = (to_e * keep).sum(1) / keep.sum(1)
    return out


@dataclass
class DenseUsage:
    """Table 1 as the authors measured it, on dense inputs (every feature ~ U[0, 1]):
    the share of them routed to each expert (inst, E), the same with the expert's
    monosemantic features clamped to 1.0 ("feature(s) active"), and whether the input made
    of those features alone, at one common value, routes to it ("only feature(s) active":
    any positive value routes the same way, so this is 0 or 1 for one input). NaN for an
    expert without monosemantic features."""
    usage: np.ndarray
    when_mono_active: np.ndarray
    when_only_mono: np.ndarray


def dense_usage(router: np.ndarray, k: int, mono: np.ndarray, x: np.ndarray) -> DenseUsage:
    """router (inst, E, n), mono (inst, E, n) bool, x (N, n) dense inputs in [0, 1)."""
    n_inst, E, n = router.shape
    R_t = np.swapaxes(router, 1, 2)  # (inst, n, E)
    base = np.einsum("bn,ine->ibe", x, R_t, optimize=True)  # (inst, N, E) logits
    usage = _top_k_mask(base, k).mean(1)
    active = np.full((n_inst, E), np.nan)
    only = np.full((n_inst, E), np.nan)
    for i, e in zip(*np.nonzero(mono.any(-1)), strict=True):
        feats = np.flatnonzero(mono[i, e])
        # clamping those features to 1.0 adds (1 − x_f)·R[:, f] to the logits
        clamped = base[i] + (1.0 - x[:, feats]) @ R_t[i, feats]
        active[i, e] = _top_k_mask(clamped, k)[:, e].mean()
        only[i, e] = float(_top_k_mask(R_t[i, feats].sum(0), k)[e])
    return DenseUsage(usage, active, only)


def _top1_cosine(W, b, x, gates) -> np.ndarray:
    """MoE-Lens: how much of the output the top-weighted expert alone carries."""
    h = np.einsum("ibn,iemn->iebm", x, W)
    y = np.maximum(np.einsum("iebm,iemn->iebn", h, W) + b[:, :, None, :], 0)  # (i,E,N,n)
    full = np.einsum("ibe,iebn->ibn", gates, y)
    top = gates.argmax(-1)  # (inst, N)
    top_y = np.take_along_axis(y, top[:, None, :, None], axis=1)[:, 0]
    top_g = np.take_along_axis(gates, top[..., None], axis=-1)
    top_out = top_g * top_y
    num = (top_out * full).sum(-1)
    den = np.linalg.norm(top_out, axis=-1) * np.linalg.norm(full, axis=-1)
    ok = den > 0
    return np.where(ok.any(1), (np.where(ok, num / np.where(ok, den, 1), 0)).sum(1)
                    / np.maximum(ok.sum(1), 1), np.nan)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def features_per_dimension(W: np.ndarray, usage: np.ndarray, k: int) -> np.ndarray:
    """Dense: ‖W‖_F²/m; MoE: (1/k) Σ_e p_e ‖W_e‖_F²/m. usage is (inst, E)."""
    m = W.shape[2]
    return (usage * frobenius_sq(W)).sum(1) / (k * m)


def global_dimensionality(D: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """D_i = Σ_e α_iᵉ D_iᵉ: (inst, n)."""
    return np.nansum(alpha * D, axis=1)
