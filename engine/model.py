"""The batched toy model: dense (Elhage) and mixture-of-experts, with an instance axis.

Shapes (inst = models trained together, E = n_experts, m = d_hidden, n = n_features):
  W      (inst, E, m, n)     expert e maps x -> W_e x -> ReLU(W_eᵀ W_e x + b_e)
  b      (inst, E, n)
  router (inst, E, n)        logits = router @ x, no bias
Dense is E = k = 1: its gate is identically 1 and the router is never used.

The forward pass and its gradient are written out by hand (the model is two matmuls and a
ReLU), over buffers that are allocated once and reused: on CPU, allocating fresh activation
tensors every op costs more than the arithmetic. Only the routed experts' hidden activations
enter the second matmul: for top-k gating, slot j masks the concatenated hidden vector
h = [W_1 x, …, W_E x] down to its expert's block, so no (inst, E, batch, n) tensor exists.
This torch `Kernel` (lowest-expert ties only) is the reference the GPU trainer's one-function
step (torch_step.py, which adds random ties) is tested against; the CPU trains with the
compiled kernel in engine/cpu, the same maths, and tests hold both to the baseline's
autograd. Initial weights are drawn in inits.py for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import ModelConfig
from .inits import init_instance, init_run  # noqa: F401  (the init lives in inits.py)


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

def init_params(models: list[ModelConfig], seeds: list[int], device) -> Params:
    parts = [init_instance(m, s) for m, s in zip(models, seeds, strict=True)]
    W, b, router = (torch.from_numpy(np.stack([p[i] for p in parts])).float().to(device)
                    for i in range(3))
    return Params(W.requires_grad_(), b.requires_grad_(), router.requires_grad_())


# ---------------------------------------------------------------- the kernel

class Workspace:
    """Named buffers reused across steps (allocating per op page-faults on CPU)."""

    def __init__(self):
        self._bufs: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype=torch.float32,
                 device=None) -> torch.Tensor:
        t = self._bufs.get(name)
        if t is None or t.shape != shape or t.dtype != dtype or (
                device is not None and t.device != torch.device(device)):
            t = torch.empty(shape, dtype=dtype, device=device)
            self._bufs[name] = t
        return t


_relu_grad = torch.ops.aten.threshold_backward.grad_input


def _argmax_experts(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-1 over the expert axis of (inst, E, batch): values and indices (inst, 1, batch),
    ties to the lowest index (as topk). For a few experts a running comparison beats
    torch.max over a short strided axis."""
    E = probs.shape[1]
    if E > 8:
        return probs.max(1, keepdim=True)
    best = probs[:, :1].clone()
    idx = torch.zeros(best.shape, dtype=torch.long, device=probs.device)
    for e in range(1, E):
        pe = probs[:, e:e + 1]
        upd = pe > best
        best = torch.where(upd, pe, best)
        idx.masked_fill_(upd, e)
    return best, idx


class Kernel:
    """Forward and hand-derived backward of the batched model and its losses.

    Works feature-major: x is (inst, n, batch), so every elementwise op and every small
    matmul runs along the contiguous batch axis (on CPU this is several times faster than
    (inst, batch, n) for the small n, m and E of toy models).

    forward(W, b, router, xt, importance, lb_coef) -> (rec, lb), each (inst,), and keeps what
    backward needs; backward(grad_rec, grad_lb, dW, db, drouter) writes the gradients of
    Σ_i grad_rec_i·rec_i + grad_lb_i·lb_i into the given tensors.

    Losses (SPEC): rec = mean over batch of Σ_i I_i (x_i − x̂_i)² (or the mean over features);
    lb = α·E·Σ_e f_e·P_e with f_e the fraction of the batch whose top-k holds e (no gradient)
    and P_e the batch mean of softmax(router x)_e.
    """

    def __init__(self, k: int, gating: str, reduction: str, ws: Workspace | None = None):
        self.k, self.gating, self.reduction = k, gating, reduction
        self.ws = ws if ws is not None else Workspace()

    # .................................................................. forward
    def forward(self, W, b, router, xt, importance, lb_coef, keep: bool = True):
        ws, k = self.ws, self.k
        I, E, m, n = W.shape
        B = xt.shape[2]
        dev = xt.device
        Wf = W.reshape(I, E * m, n)
        h = torch.bmm(Wf, xt, out=ws("h", (I, E * m, B), device=dev))
        self.shape = (I, E, m, n, B)
        self.x, self.Wf, self.importance, self.lb_coef = xt, Wf, importance, lb_coef
        if E == 1:
            z = ws("z0", (I, n, B), device=dev)
            torch.baddbmm(b.transpose(1, 2), Wf.transpose(1, 2), h, out=z)  # b: (I, n, 1)
            self.slots = [(None, h, z.relu_(), None)]
            self.probs = self.chosen = self.idx = self.topv = None
            x_hat = z
        else:
            logits = torch.bmm(router, xt, out=ws("logits", (I, E, B), device=dev))
            probs = torch.softmax(logits, dim=1)  # (I, E, B)
            if k == 1:
                topv, idx = _argmax_experts(probs)  # ties go to the lowest expert
                chosen = torch.eq(idx, torch.arange(E, device=dev)[None, :, None]).float()
            else:
                topv, idx = probs.topk(k, dim=1)  # (I, k, B)
                chosen = torch.zeros_like(probs).scatter_(1, idx, 1.0)
            self.probs, self.chosen, self.idx, self.topv = probs, chosen, idx, topv
            gates = self._gates(topv)  # (I, k, B), or None when every gate is exactly 1
            self.slots = []
            h4 = h.view(I, E, m, B)
            bT = b.transpose(1, 2)  # (I, n, E)
            WfT = Wf.transpose(1, 2)
            for j in range(k):
                cj = chosen if k == 1 else torch.zeros_like(probs).scatter_(
                    1, idx[:, j:j + 1], 1.0)
                hm = ws(f"hm{j}", (I, E * m, B), device=dev)
                torch.mul(h4, cj[:, :, None, :], out=hm.view(I, E, m, B))
                z = ws(f"z{j}", (I, n, B), device=dev)
                torch.bmm(bT, cj, out=z)  # the routed expert's bias
                z.baddbmm_(WfT, hm)
                y = z.relu_()
                self.slots.append((cj, hm, y, None if gates is None else gates[:, j:j + 1]))
            if k == 1 and gates is None:
                x_hat = self.slots[0][2]
            else:
                x_hat = ws("x_hat", (I, n, B), device=dev)
                x_hat.zero_()
                for _, _, y, g in self.slots:
                    x_hat.addcmul_(y, g)
        self.x_hat = x_hat
        diff = torch.sub(x_hat, xt, out=ws("diff", (I, n, B), device=dev))
        scale = (1.0 if self.reduction == "sum" else 1.0 / n) / B
        rec = (torch.linalg.vector_norm(diff, dim=2).square_() * importance).sum(1) * scale
        self.diff, self.scale = diff, scale
        if E == 1:
            lb = torch.zeros_like(rec)
        else:
            self.f = self.chosen.mean(2)  # (I, E)
            lb = lb_coef * E * (self.f * self.probs.mean(2)).sum(-1)
        if not keep:
            self.slots = []
        return rec, lb

    def _gates(self, topv):
        if self.gating == "renorm":
            # k = 1: g_e / g_e is exactly 1, and the router gets no gradient from it
            return None if self.k == 1 else topv / topv.sum(1, keepdim=True)
        return topv

    @property
    def routing(self) -> Routing | None:
        """probs, chosen, gates as (inst, batch, E)."""
        if self.probs is None:
            return None
        gates = self._gates(self.topv)
        full = self.chosen if gates is None else torch.zeros_like(self.probs).scatter_(
            1, self.idx, gates)
        return Routing(*(t.transpose(1, 2) for t in (self.probs, self.chosen, full)))

    # ................................................................. backward
    def backward(self, grad_rec, grad_lb, dW, db, drouter):
        """dL/dx̂ = c ⊙ (x̂ − x) with c = 2·s·I per (instance, feature). c is applied to the
        small results (dW, db, and W in dH = W·dz) instead of to the big activations, so the
        only elementwise pass per slot is the ReLU mask."""
        ws = self.ws
        I, E, m, n, B = self.shape
        x, Wf, dev, diff = self.x, self.Wf, self.x.device, self.diff
        coef = self.importance * (2.0 * self.scale) * grad_rec[:, None]  # (I, n)
        Wc = Wf * coef[:, None, :]
        dWf = dW.view(I, E * m, n)
        dbv = db.view(I, E, n)
        dgates = []
        multi = len(self.slots) > 1
        dHm = ws("dHm", (I, E * m, B), device=dev) if multi else None
        for j, (cj, hm, y, g) in enumerate(self.slots):
            if g is not None:
                dy = ws("dy", (I, n, B), device=dev)
                torch.mul(diff, y, out=dy)
                dgates.append(torch.bmm(coef[:, None, :], dy)[:, 0])  # (I, B)
                torch.mul(diff, g, out=dy)
            else:
                dy = diff
            dz = _relu_grad(dy, y, 0.0, grad_input=ws("dz", (I, n, B), device=dev))
            dzT = dz.transpose(1, 2)
            if cj is None:
                torch.sum(dz, 2, out=dbv.view(I, n))
            elif j == 0:
                torch.bmm(cj, dzT, out=dbv)
            else:
                dbv.baddbmm_(cj, dzT)
            if j == 0:
                torch.bmm(hm, dzT, out=dWf)
            else:
                dWf.baddbmm_(hm, dzT)
            dH = torch.bmm(Wc, dz, out=ws("dH", (I, E * m, B), device=dev))
            if cj is not None:
                dH.view(I, E, m, B).mul_(cj[:, :, None, :])  # only the routed block
            if not multi:
                dHm = dH
            elif j == 0:
                dHm.copy_(dH)
            else:
                dHm.add_(dH)
        dbv.mul_(coef[:, None, :])
        dWf.mul_(coef[:, None, :])
        dWf.baddbmm_(dHm, x.transpose(1, 2))
        if self.probs is None:
            drouter.zero_()
            return
        probs = self.probs
        dg = torch.zeros_like(probs)
        if dgates:
            dtop = torch.stack(dgates, 1)  # (I, k, B)
            if self.gating == "renorm":  # gate_j = g_j / S over the chosen
                S = self.topv.sum(1, keepdim=True)
                gate = self.topv / S
                dtop = (dtop - (dtop * gate).sum(1, keepdim=True)) / S
            dg.scatter_add_(1, self.idx, dtop)
        dP = (grad_lb * self.lb_coef * E / B)[:, None] * self.f  # (I, E)
        dg.add_(dP[:, :, None])
        dlogits = probs * (dg - (probs * dg).sum(1, keepdim=True))
        torch.bmm(dlogits, x.transpose(1, 2), out=drouter)


def forward(params: Params, x: torch.Tensor, k: int, gating: str) -> tuple[torch.Tensor,
                                                                            Routing | None]:
    """x̂ (inst, batch, n) and the routing (None for a single expert); no gradient."""
    kern = Kernel(k, gating, "sum")
    I, _, _, n = params.W.shape
    with torch.no_grad():
        kern.forward(params.W.detach(), params.b.detach(), params.router.detach(),
                     x.transpose(1, 2).contiguous(), torch.ones(I, n, device=x.device),
                     torch.zeros(I, device=x.device))
    return kern.x_hat.transpose(1, 2).contiguous(), kern.routing
