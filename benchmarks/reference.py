"""BASELINE ONLY: a plain re-implementation of how the research code trains the toy models.

This is what moelab's engine is measured against in `moelab bench`; the engine never uses it.
It follows the usual research recipe, written from scratch here:

* one small nn.Module per model; many models are trained at once by stacking their
  parameters (torch.func.stack_module_state) and calling torch.func.vmap over
  torch.func.functional_call, so the instance axis is a vmap axis;
* every expert is computed densely for every sample, and the gated sum picks the routed ones;
* autograd for the gradients and torch.optim.AdamW for the update;
* fresh torch.rand data every step (one draw for the values, one for the sparsity mask).

The maths is the SPEC's (renorm or switch gating, top-k, Switch load balancing,
sum or mean over features), so the engine and this baseline train the same models.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class ToyModel(nn.Module):
    """One model: E experts (E = 1 is the dense model), router without bias."""

    def __init__(self, n_features: int, d_hidden: int, n_experts: int, k: int, gating: str):
        super().__init__()
        self.W = nn.Parameter(torch.empty(n_experts, d_hidden, n_features))
        self.b = nn.Parameter(torch.zeros(n_experts, n_features))
        self.router = nn.Parameter(torch.empty(n_experts, n_features))
        self.k, self.gating = k, gating

    def forward(self, x: torch.Tensor):
        E = self.W.shape[0]
        h = torch.einsum("bn,emn->ebm", x, self.W)
        y = torch.relu(torch.einsum("ebm,emn->ebn", h, self.W) + self.b[:, None, :])
        if E == 1:
            return y[0], None, None
        probs = torch.softmax(x @ self.router.T, dim=-1)
        idx = torch.topk(probs, self.k, dim=-1).indices
        chosen = torch.zeros_like(probs).scatter(-1, idx, 1.0)
        gates = probs * chosen
        if self.gating == "renorm":
            gates = gates / gates.sum(-1, keepdim=True)
        return torch.einsum("be,ebn->bn", gates, y), probs, chosen


def _instance_loss(model: ToyModel, reduction: str):
    def loss(params, x, importance, lb_coef):
        x_hat, probs, chosen = functional_call(model, params, (x,))
        err = importance * (x - x_hat) ** 2
        rec = (err.sum(-1) if reduction == "sum" else err.mean(-1)).mean()
        if probs is None:
            return rec, torch.zeros_like(rec)
        E = probs.shape[-1]
        lb = lb_coef * E * (chosen.mean(0) * probs.mean(0)).sum()
        return rec, lb
    return loss


class Reference:
    """Trains `len(inits)` models of one shape together, the research-code way."""

    def __init__(self, n_features: int, d_hidden: int, n_experts: int, k: int, gating: str,
                 inits: list[tuple[np.ndarray, np.ndarray, np.ndarray]], p: np.ndarray,
                 importance: np.ndarray, lb_coef: np.ndarray, batch_size: int,
                 lr: float = 1e-3, weight_decay: float = 0.01, reduction: str = "sum",
                 seed: int = 0):
        base = ToyModel(n_features, d_hidden, n_experts, k, gating)
        models = []
        for W, b, router in inits:
            mod = copy.deepcopy(base)
            with torch.no_grad():
                mod.W.copy_(torch.as_tensor(W))
                mod.b.copy_(torch.as_tensor(b))
                mod.router.copy_(torch.as_tensor(router))
            models.append(mod)
        self.params, _ = stack_module_state(models)
        self.base = base.to("meta")
        self.dense = n_experts == 1
        self.p = torch.as_tensor(p, dtype=torch.float32)  # (inst, n)
        self.importance = torch.as_tensor(importance, dtype=torch.float32)
        self.lb_coef = torch.as_tensor(lb_coef, dtype=torch.float32)
        self.batch_size = batch_size
        self.reduction = reduction
        trainable = [v for name, v in self.params.items() if not (self.dense and name == "router")]
        self.opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
        self.loss_fn = vmap(_instance_loss(self.base, reduction))
        torch.manual_seed(seed)

    def batch(self) -> torch.Tensor:
        inst, n = self.p.shape
        values = torch.rand(inst, self.batch_size, n)
        mask = torch.rand(inst, self.batch_size, n) < self.p[:, None, :]
        return values * mask

    def step(self) -> torch.Tensor:
        x = self.batch()
        rec, lb = self.loss_fn(self.params, x, self.importance[:, None, :], self.lb_coef)
        loss = rec + lb
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        return loss.detach()

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(self.params[k].detach().numpy().copy() for k in ("W", "b", "router"))

    @torch.no_grad()
    def eval_loss(self, x: torch.Tensor) -> np.ndarray:
        """Reconstruction loss per instance on x (inst, batch, n)."""
        rec, _ = self.loss_fn(self.params, x, self.importance[:, None, :], self.lb_coef)
        return rec.numpy()
