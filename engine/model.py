"""The batched toy model: dense (Elhage) and mixture-of-experts, with an instance axis.

Shapes (inst = models trained together, E = n_experts, m = d_hidden, n = n_features):
  W      (inst, E, m, n)     expert e maps x -> W_e x -> ReLU(W_eᵀ W_e x + b_e)
  b      (inst, E, n)
  router (inst, E, n)        logits = router @ x, no bias
Dense is E = k = 1: its gate is identically 1 and the router is never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import ModelConfig


@dataclass
class Params:
    W: torch.Tensor
    b: torch.Tensor
    router: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        return [self.W, self.b, self.router]


@dataclass
class Routing:
    probs: torch.Tensor  # (inst, batch, E) softmax of router logits
    chosen: torch.Tensor  # (inst, batch, E) 1.0 where e is in the top-k
    gates: torch.Tensor  # (inst, batch, E) weight of each expert's output


# ---------------------------------------------------------------- init

def init_instance(model: ModelConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One instance's (W, b, router), drawn only from its own seed: the same seed gives the
    same start whatever else shares the batch."""
    E, m, n = model.n_experts, model.d_hidden, model.n_features
    g = torch.Generator().manual_seed(int(seed))
    W = torch.randn(E, m, n, generator=g) * (2.0 / (m + n)) ** 0.5  # xavier_normal per expert
    if model.bias_init == "xavier":
        b = torch.randn(E, n, generator=g) * (2.0 / (E + n)) ** 0.5
    else:
        b = torch.zeros(E, n)
    router = _router_init(model, g, seed)
    return W.numpy(), b.numpy(), router


def _router_init(model: ModelConfig, g: torch.Generator, seed: int) -> np.ndarray:
    E, n = model.n_experts, model.n_features
    kind = model.router_init
    if isinstance(kind, tuple):
        return np.asarray(kind, dtype=np.float32)
    if kind == "xavier":
        return (torch.randn(E, n, generator=g) * (2.0 / (E + n)) ** 0.5).numpy()
    r = np.zeros((E, n), dtype=np.float32)
    if kind == "diagonal":
        d = min(E, n)
        r[np.arange(d), np.arange(d)] = 1.0
    elif kind in ("ordered_khot", "random_khot"):
        order = np.arange(n)
        if kind == "random_khot":
            order = np.random.default_rng([seed, 11]).permutation(n)
        for e, block in enumerate(np.array_split(order, E)):
            r[e, block] = 1.0
    return r


def init_params(models: list[ModelConfig], seeds: list[int], device) -> Params:
    parts = [init_instance(m, s) for m, s in zip(models, seeds, strict=True)]
    W, b, router = (torch.from_numpy(np.stack([p[i] for p in parts])).float().to(device)
                    for i in range(3))
    return Params(W.requires_grad_(), b.requires_grad_(), router.requires_grad_())


# ---------------------------------------------------------------- forward

def route(router: torch.Tensor, x: torch.Tensor, k: int, gating: str) -> Routing:
    """g = softmax(router x); top-k; renorm gating divides by the chosen mass (the paper's),
    switch gating keeps the raw probability so the router learns from reconstruction."""
    probs = torch.softmax(torch.einsum("ibn,ien->ibe", x, router), dim=-1)
    E = probs.shape[-1]
    if k >= E:
        chosen = torch.ones_like(probs)
    else:
        idx = probs.topk(k, dim=-1).indices
        chosen = torch.zeros_like(probs).scatter_(-1, idx, 1.0)
    if gating == "renorm" and k == 1:
        # g_e / g_e is exactly 1: computing the quotient would hand the router rounding
        # noise (~1e-10) that Adam rescales into real updates
        gates = chosen
    elif gating == "renorm":
        gates = probs * chosen
        gates = gates / gates.sum(-1, keepdim=True)
    else:
        gates = probs * chosen
    return Routing(probs, chosen, gates)


def expert_outputs(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """ReLU(W_eᵀ W_e x + b_e) for every expert: (inst, E, batch, n)."""
    h = torch.einsum("ibn,iemn->iebm", x, W)
    return torch.relu(torch.einsum("iebm,iemn->iebn", h, W) + b[:, :, None, :])


def forward(params: Params, x: torch.Tensor, k: int, gating: str) -> tuple[torch.Tensor,
                                                                            Routing | None]:
    """x̂ (inst, batch, n) and the routing (None for a single expert)."""
    y = expert_outputs(params.W, params.b, x)
    if params.W.shape[1] == 1:
        return y[:, 0], None
    r = route(params.router, x, k, gating)
    return torch.einsum("ibe,iebn->ibn", r.gates, y), r
