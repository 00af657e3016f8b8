"""MoE Lens on toy MoEs (Chaudhari et al., "MoE Lens – An Expert Is All You Need"):
how concentrated routing is, how much the top-weighted expert alone reproduces, and what
each expert is worth.

Per run, on one fixed sample of its inputs:
- concentration: the share of routing weight (usage p_e, Σ_e p_e = 1) of the most used
  expert and of the top quarter of experts (at least one), and the routing entropy
  -Σ_e p_e ln p_e (nats; ln E when uniform, 0 when one expert takes everything);
- top-1 loss: the reconstruction loss when each input uses only its top-weighted expert,
  gated as the model gates (renorm: weight 1; switch: its raw probability), relative to the
  full top-k loss. With k = 1 that is the model itself: the ratio is exactly 1;
- ablation, per expert: the loss when the expert is removed and its inputs take their next
  choice (top-k among the others, gated again), relative to the full loss.
The top-1 cosine is computed with the other routing statistics (runs.lens_top1_cosine).
Routing ties go to the lowest expert, as metrics.occupied does.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M

LENS_SAMPLES = 2048
LENS_SEED = 20250105


def expert_outputs(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ReLU(W_eᵀ W_e x + b_e) for every expert: (inst, E, N, n)."""
    h = np.matmul(x[:, None], np.swapaxes(W, 2, 3))  # (inst, E, N, m); matmul beats einsum
    return np.maximum(np.matmul(h, W) + b[:, :, None], 0)


def gates(probs: np.ndarray, chosen: np.ndarray, gating: str) -> np.ndarray:
    """The weight of each expert's output: renorm g_e/Σ_T g on the chosen set T; switch the
    raw g_e on T."""
    gated = probs * chosen
    if gating == "switch":
        return gated
    total = gated.sum(-1, keepdims=True)
    return gated / np.where(total > 0, total, 1.0)


def _loss(y: np.ndarray, g: np.ndarray, x: np.ndarray, importance: np.ndarray,
          per_feature: float) -> np.ndarray:
    """mean over samples of Σ_i I_i (x_i − x̂_i)² (x per_feature for the mean reduction)."""
    out = (np.swapaxes(g, 1, 2)[..., None] * y).sum(1)  # Σ_e g_e y_e: (inst, N, n)
    return ((x - out) ** 2 * importance[:, None, :]).sum(-1).mean(-1) * per_feature


def lens(W: np.ndarray, b: np.ndarray, router: np.ndarray, x: np.ndarray, k: int,
         gating: str, importance: np.ndarray, reduction: str = "sum"
         ) -> dict[str, np.ndarray]:
    """The MoE Lens numbers of W (inst, E, m, n), b/router (inst, E, n) on x (inst, N, n)."""
    n_inst, E, _, n = W.shape
    per_feature = 1.0 / n if reduction == "mean" else 1.0
    probs = M._softmax(np.matmul(x, np.swapaxes(router, 1, 2)))  # (inst, N, E)
    order = np.argsort(-probs, axis=-1, kind="stable")  # ties: the lower expert first
    chosen = np.zeros_like(probs)
    np.put_along_axis(chosen, order[..., :k], 1.0, axis=-1)
    full_g = gates(probs, chosen, gating)
    top1 = np.zeros_like(probs)
    np.put_along_axis(top1, order[..., :1], 1.0, axis=-1)
    y = expert_outputs(W, b, x)
    full = _loss(y, full_g, x, importance, per_feature)
    top1_loss = _loss(y, gates(probs, top1, gating), x, importance, per_feature)
    ablation = np.empty((n_inst, E))
    for e in range(E):
        # the inputs' top-k among the other experts: e's place goes to the next in line
        keep = order[order != e].reshape(n_inst, x.shape[1], E - 1)[..., :k] if E > 1 else None
        picked = np.zeros_like(probs)
        if keep is not None:
            np.put_along_axis(picked, keep, 1.0, axis=-1)
        ablation[:, e] = _loss(y, gates(probs, picked, gating), x, importance, per_feature)
    usage = (full_g / np.maximum(full_g.sum(-1, keepdims=True), 1e-30)).mean(1)  # (inst, E)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {**_concentration(usage), "full_loss": full, "top1_loss": top1_loss,
                "top1_loss_ratio": top1_loss / full, "ablation_loss": ablation,
                "ablation_loss_ratio": ablation / full[:, None]}


def _concentration(usage: np.ndarray) -> dict[str, np.ndarray]:
    """Top expert's and top quarter's share of the routing weight, and its entropy (nats)."""
    E = usage.shape[1]
    ranked = -np.sort(-usage, axis=-1)
    quarter = max(1, int(np.ceil(E / 4)))
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(usage > 0, usage * np.log(usage), 0.0).sum(-1)
    return {"top_share": ranked[:, 0], "top_quarter_share": ranked[:, :quarter].sum(-1),
            "routing_entropy": entropy}


def lens_tables(W, b, router, k: int, gating: str, importance, p, last_scale,
                reduction: str = "sum") -> dict[str, dict[str, object]]:
    """Chunk tables `lens` (per run) and `lens_experts` (per run and expert), compiled and on
    every core (engine/cpu/metrics.py: the numbers of `lens` above, sample by sample)."""
    from .cpu.metrics_run import lens as compiled_lens
    n_inst, E, _, n = np.shape(W)
    per_feature = 1.0 / n if reduction == "mean" else 1.0
    sums = compiled_lens(W, b, router, k, gating, importance, p, last_scale, LENS_SAMPLES,
                         LENS_SEED, per_feature)
    runs = _concentration(sums["usage"])
    full = sums["full_loss"]
    runs.update(full_loss=full, top1_loss=sums["top1_loss"],
                top1_loss_ratio=sums["top1_loss"] / full)
    ablation = sums["ablation_loss"]
    return {
        "lens": {"local_index": np.arange(n_inst), **runs},
        "lens_experts": {
            "local_index": np.repeat(np.arange(n_inst), E),
            "expert": np.tile(np.arange(E), n_inst),
            "ablation_loss": ablation.ravel(),
            "ablation_loss_ratio": (ablation / full[:, None]).ravel(),
        },
    }
