"""Training a batch of runs on a CUDA GPU: the hand-derived torch kernel (model.Kernel) over
the whole batch, a fused in-place AdamW, and torch.rand data on the device.

The CPU trains with the compiled kernel in engine/cpu instead (numba cannot target the
GPU); both implement the same maths and are checked against the baseline's autograd.
"""

from __future__ import annotations

import numpy as np
import torch

from . import data as data_mod
from .model import Kernel, Params, Routing, Workspace


class BatchTensors:
    """Per-instance data settings as tensors on the training device."""

    def __init__(self, p, importance, last_scale, lb_coef):
        self.p, self.importance, self.last_scale, self.lb_coef = (
            p, importance, last_scale, lb_coef)

    @classmethod
    def of(cls, settings, device) -> BatchTensors:
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
        return cls(as_t(settings.p), as_t(settings.importance), as_t(settings.last_scale),
                   as_t(settings.lb_coef))


class _Losses(torch.autograd.Function):
    """Autograd face of the hand-derived kernel (the trainer calls the kernel directly)."""

    @staticmethod
    def forward(ctx, W, b, router, x, importance, lb_coef, kern):
        rec, lb = kern.forward(W.detach(), b.detach(), router.detach(),
                               x.detach().transpose(1, 2).contiguous(), importance, lb_coef)
        ctx.kern = kern
        ctx.shapes = (W, b, router)
        return rec, lb

    @staticmethod
    def backward(ctx, grad_rec, grad_lb):
        W, b, router = ctx.shapes
        zeros = torch.zeros(W.shape[0], device=W.device)
        dW, db, dr = torch.empty_like(W), torch.empty_like(b), torch.empty_like(router)
        ctx.kern.backward(zeros if grad_rec is None else grad_rec,
                          zeros if grad_lb is None else grad_lb, dW, db, dr)
        return dW, db, dr, None, None, None, None


def losses(params: Params, x: torch.Tensor, bt: BatchTensors, k: int, gating: str,
           reduction: str) -> tuple[torch.Tensor, torch.Tensor, Routing | None]:
    """Per-instance reconstruction and load-balancing losses, each (inst,), differentiable
    with respect to params (through the kernel's hand-derived gradient)."""
    kern = Kernel(k, gating, reduction)
    rec, lb = _Losses.apply(params.W, params.b, params.router, x, bt.importance, bt.lb_coef,
                            kern)
    return rec, lb, kern.routing


class AdamW:
    """torch.optim.AdamW's update (decoupled weight decay, bias-corrected moments) on one flat
    parameter buffer, in place, with no temporaries."""

    def __init__(self, flat: torch.Tensor, lr: float, weight_decay: float,
                 betas=(0.9, 0.999), eps: float = 1e-8):
        self.p, self.lr, self.wd, self.betas, self.eps = flat, lr, weight_decay, betas, eps
        self.m, self.v = torch.zeros_like(flat), torch.zeros_like(flat)
        self.denom = torch.empty_like(flat)
        self.t = 0

    def step(self, grad: torch.Tensor, upto: int | None = None) -> None:
        self.t += 1
        b1, b2 = self.betas
        sl = slice(0, upto)
        p, m, v, d, g = self.p[sl], self.m[sl], self.v[sl], self.denom[sl], grad[sl]
        p.mul_(1 - self.lr * self.wd)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        torch.sqrt(v, out=d)
        d.div_(bc2 ** 0.5).add_(self.eps)
        p.addcdiv_(m, d, value=-self.lr / bc1)


def _flat_views(flat: torch.Tensor, shapes) -> list[torch.Tensor]:
    out, at = [], 0
    for shp in shapes:
        size = int(np.prod(shp))
        out.append(flat[at:at + size].view(shp))
        at += size
    return out


def _ties(tie_keys, device: str, seed: int):
    """The kernel's random-tie setting: None when every instance sends ties to the lowest
    expert, else (which instances break them at random, a generator for the draws). On the
    GPU the draws are per batch, not per run (as its data)."""
    if tie_keys is None or not any(int(k) for k in tie_keys):
        return None
    random_inst = torch.tensor([int(k) != 0 for k in tie_keys], device=device)
    return random_inst, torch.Generator(device=device).manual_seed(int(seed) + 1)


class TorchTrainer:
    def __init__(self, init: tuple[np.ndarray, np.ndarray, np.ndarray], settings, seed: int,
                 k: int, gating: str, reduction: str, batch_size: int, lr: float,
                 weight_decay: float, device: str, tie_keys=None):
        self.device, self.k, self.gating, self.reduction = device, k, gating, reduction
        self.tie_keys = tie_keys
        shapes = [a.shape for a in init]
        self.flat = torch.empty(sum(a.size for a in init), device=device)
        self.W, self.b, self.router = _flat_views(self.flat, shapes)
        for dst, src in zip((self.W, self.b, self.router), init, strict=True):
            dst.copy_(torch.from_numpy(np.asarray(src, dtype=np.float32)))
        self.grad = torch.zeros_like(self.flat)
        self.dW, self.db, self.drouter = _flat_views(self.grad, shapes)
        self.dense = shapes[0][1] == 1
        # a dense model's router is never used: it gets no gradient and no update (not even decay)
        self.upto = self.W.numel() + self.b.numel() if self.dense else None
        self.opt = AdamW(self.flat, lr=lr, weight_decay=weight_decay)
        self.bt = BatchTensors.of(settings, device)
        self.kern = Kernel(k, gating, reduction)
        self.kern.ties = _ties(tie_keys, device, seed)
        self.sampler = data_mod.Sampler(self.bt.p, self.bt.last_scale, batch_size, seed)
        self.ones = torch.ones(shapes[0][0], device=device)

    def step(self, t: int):
        x = self.sampler.draw()
        rec, lb = self.kern.forward(self.W, self.b, self.router, x, self.bt.importance,
                                    self.bt.lb_coef)
        self.kern.backward(self.ones, self.ones, self.dW, self.db, self.drouter)
        gn = torch.zeros_like(rec) if self.dense else self.drouter.flatten(1).norm(dim=1)
        self.opt.step(self.grad, self.upto)
        return rec, lb, gn

    def steps(self, first: int, last: int):
        """Steps first … last (the CPU trainer's interface); step last's losses."""
        for t in range(first, last + 1):
            out = self.step(t)
        return out

    @torch.no_grad()
    def eval_loss(self, n_samples: int, seed: int, chunk: int = 2048) -> np.ndarray:
        """Reconstruction loss on one fresh batch that every instance shares."""
        g = torch.Generator(device=self.device).manual_seed(seed)
        bt = self.bt
        u = torch.rand(n_samples, bt.p.shape[1], generator=g, device=self.device)
        total = torch.zeros(bt.p.shape[0], device=self.device)
        kern = Kernel(self.k, self.gating, self.reduction, Workspace())
        kern.ties = _ties(self.tie_keys, self.device, seed)
        for s in range(0, n_samples, chunk):
            x = data_mod.sample_shared(bt.p, bt.last_scale, u[s:s + chunk])
            rec, _ = kern.forward(self.W, self.b, self.router, x.transpose(1, 2).contiguous(),
                                  bt.importance, bt.lb_coef, keep=False)
            total += rec * x.shape[1]
        return (total / n_samples).cpu().numpy().astype(np.float64)

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(t.cpu().numpy().copy() for t in (self.W, self.b, self.router))

    def close(self) -> None:
        pass
