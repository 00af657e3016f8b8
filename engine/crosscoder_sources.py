"""The two activation spaces a crosscoder reads, computed from stored toy-model weights.

Dense model: its hidden h = W x (d_hidden wide). MoE: every expert's hidden W_e x, scaled by
that expert's gate as in the forward pass (g̃_e for the paper's renormalised gating, g_e for
Switch gating; zero for experts not in the top-k) and concatenated over experts (E·d_hidden
wide). Gating the hidden is what makes it the MoE's activation: an expert not routed to
contributes nothing, and with k > 1 each expert's share is what reaches the output
(ReLU(W_eᵀ g h + g b) = g·ReLU(W_eᵀ h + b) for g > 0). docs/crosscoders.md says more.

Both spaces are fed the same inputs x, drawn from the runs' data distribution, so a
crosscoder sees the two models answer the same question. Shapes carry an instance axis:
one instance per crosscoder of a unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import scale_last


@dataclass
class ModelWeights:
    """One toy model's stored weights and routing settings (numpy, no instance axis)."""
    W: np.ndarray  # (E, m, n)
    router: np.ndarray  # (E, n)
    k: int
    gating: str  # renorm | switch

    @property
    def width(self) -> int:
        return self.W.shape[0] * self.W.shape[1]


def gated_hidden(x: torch.Tensor, W: torch.Tensor, router: torch.Tensor, k: int,
                 gating: str) -> torch.Tensor:
    """(inst, batch, E·m): each expert's W_e x times its gate, concatenated over experts.
    x (inst, batch, n), W (inst, E, m, n), router (inst, E, n)."""
    h = torch.einsum("iemn,ibn->ibem", W, x)
    E = W.shape[1]
    if E == 1:  # dense: the gate is identically 1
        return h.reshape(h.shape[0], h.shape[1], -1)
    probs = torch.softmax(torch.einsum("ien,ibn->ibe", router, x), dim=-1)
    if k == 1:  # argmax is topk's lowest-index tie rule, and much cheaper
        idx = probs.argmax(-1, keepdim=True)
        top = probs.gather(-1, idx)
    else:
        top, idx = probs.topk(k, dim=-1)  # ties to the lowest index, as the trainers
    gates = top / top.sum(-1, keepdim=True) if gating == "renorm" else top
    g = torch.zeros_like(probs).scatter_(-1, idx, gates)
    return (h * g[..., None]).reshape(h.shape[0], h.shape[1], -1)


class ToyPairSource:
    """Activations of pairs of toy models (dense, MoE) on shared inputs, one pair an
    instance: draw(batch) -> (a (inst, batch, d_dense), b (inst, batch, d_moe))."""

    def __init__(self, dense: list[ModelWeights], moe: list[ModelWeights], p: np.ndarray,
                 last_scale: np.ndarray, device: str):
        self.device = device
        t = lambda a: torch.as_tensor(np.stack(a), dtype=torch.float32, device=device)  # noqa: E731
        self.W_d, self.r_d = t([m.W for m in dense]), t([m.router for m in dense])
        self.W_m, self.r_m = t([m.W for m in moe]), t([m.router for m in moe])
        self.k_d, self.k_m = dense[0].k, moe[0].k
        self.gating_d, self.gating_m = dense[0].gating, moe[0].gating
        self.p = torch.as_tensor(p, dtype=torch.float32, device=device)
        self.last_scale = torch.as_tensor(last_scale, dtype=torch.float32, device=device)

    @property
    def widths(self) -> tuple[int, int]:
        return (self.W_d.shape[1] * self.W_d.shape[2], self.W_m.shape[1] * self.W_m.shape[2])

    def spaces(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (gated_hidden(x, self.W_d, self.r_d, self.k_d, self.gating_d),
                gated_hidden(x, self.W_m, self.r_m, self.k_m, self.gating_m))

    def draw(self, batch: int, gens: list[torch.Generator]
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator per instance, so a crosscoder sees the same inputs whichever others
        share its unit. x_i = u/p_i where u < p_i, else 0 (SPEC: Data)."""
        n = self.p.shape[1]
        u = torch.stack([torch.rand(batch, n, generator=g, device=self.device) for g in gens])
        p = self.p[:, None, :]
        x = torch.where(u < p, u / p, torch.zeros((), device=self.device))
        return self.spaces(scale_last(x, self.last_scale))


def feature_directions(W: np.ndarray, router: np.ndarray, k: int, gating: str) -> np.ndarray:
    """Where input feature i lands in a model's activation space: the activation of the
    one-hot input e_i, (n, E·m). Dense: column W_i. MoE: W_iᵉ in the block of each expert e_i
    routes to, times its gate. A feature the model ignores has a ~0 vector here."""
    n = W.shape[-1]
    x = torch.eye(n)[None]
    return gated_hidden(x, torch.as_tensor(W[None], dtype=torch.float32),
                        torch.as_tensor(router[None], dtype=torch.float32), k, gating)[0].numpy()
