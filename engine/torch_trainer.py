"""Training a batch of runs on a CUDA GPU: one step function (engine/torch_step.py: the
run-keyed data, routing, hand-derived forward and backward, AdamW) over the whole batch,
compiled with torch.compile (CUDA graphs) on the GPU, eager on the CPU for tests.

The CPU trains with the compiled kernel in engine/cpu instead (numba cannot target the
GPU); both implement the same maths and are checked against the baseline's autograd.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from . import data as data_mod
from . import torch_rng
from . import torch_step as TS
from .model import Kernel, Params, Routing


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


def _flat_views(flat: torch.Tensor, shapes) -> list[torch.Tensor]:
    out, at = [], 0
    for shp in shapes:
        size = int(np.prod(shp))
        out.append(flat[at:at + size].view(shp))
        at += size
    return out


_COMPILED: dict[str, object] = {}


def _compiled_step(device: str):
    """torch_step.train_step compiled once per device type and shared by every trainer (a
    pure function of its tensors: a new batch of the same shapes reuses the compiled code).
    CUDA: inductor with CUDA graphs; CPU: traced in one graph (fullgraph) but run eagerly,
    which checks that the step compiles without a GPU."""
    kind = torch.device(device).type
    if kind not in _COMPILED:
        if kind == "cuda":
            # every sweep shape (E, k, batch) is a compiled variant: room for a preset's
            torch._dynamo.config.cache_size_limit = max(
                torch._dynamo.config.cache_size_limit, 64)
            _COMPILED[kind] = torch.compile(TS.train_step, mode="reduce-overhead",
                                            fullgraph=True)
        else:
            _COMPILED[kind] = torch.compile(TS.train_step, backend="eager", fullgraph=True)
    return _COMPILED[kind]


def want_compile(device: str) -> bool:
    """Compile the step on CUDA (MOELAB_TORCH_COMPILE=0 turns it off); on the CPU the same
    step runs eagerly (it is the tests' path: the CPU trains with engine/cpu)."""
    return (torch.device(device).type == "cuda" and hasattr(torch, "compile")
            and os.environ.get("MOELAB_TORCH_COMPILE", "1") != "0")


class TorchTrainer:
    """A batch of runs trained with torch_step's one-function step, state on the device.

    keys: each instance's data key (train.data_key), tie_keys: its routing-tie key
    (inits.tie_key, 0 = ties to the lowest expert). The step counter lives on the device too,
    so steps() queues steps without waiting for the host.
    """

    def __init__(self, init: tuple[np.ndarray, np.ndarray, np.ndarray], settings, keys,
                 k: int, gating: str, reduction: str, batch_size: int, lr: float,
                 weight_decay: float, device: str, tie_keys=None, compile: bool | None = None):
        self.device, self.k, self.gating, self.reduction = device, k, gating, reduction
        self.shapes = tuple(tuple(int(d) for d in a.shape) for a in init)
        n_inst, E = self.shapes[0][0], self.shapes[0][1]
        self.flat = torch.empty(sum(a.size for a in init), device=device)
        self.W, self.b, self.router = _flat_views(self.flat, self.shapes)
        for dst, src in zip((self.W, self.b, self.router), init, strict=True):
            dst.copy_(torch.from_numpy(np.asarray(src, dtype=np.float32)))
        self.m, self.v = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.t = torch.zeros((), dtype=torch.int64, device=device)
        self.host_t = 0  # the host's count of queued steps (reading self.t would sync)
        # a dense model's router is never used: it gets no gradient and no update
        self.upto = self.W.numel() + self.b.numel() if E == 1 else self.flat.numel()
        self.bt = BatchTensors.of(settings, device)
        sampler = data_mod.Sampler(self.bt.p, self.bt.last_scale, batch_size, keys)
        tie_keys = [0] * n_inst if tie_keys is None else [int(x) for x in tie_keys]
        random = E > 1 and any(tie_keys)
        f64 = dict(dtype=torch.float64, device=device)
        self.consts = TS.StepConsts(
            keys=sampler.keys, pos=sampler.pos, neg_inv_p=sampler.neg_inv_p,
            scale=sampler.scale, importance=self.bt.importance, lb_coef=self.bt.lb_coef,
            lr=torch.tensor(lr, **f64), wd=torch.tensor(weight_decay, **f64),
            tie_keys=torch_rng.keys_tensor(tie_keys, device) if random else None,
            random_inst=torch.tensor([x != 0 for x in tie_keys], device=device)
            if random else None,
            tie_pos=torch_rng.positions((E, batch_size), device) if random else None)
        self.compiled = want_compile(device) if compile is None else compile
        self._step = _compiled_step(device) if self.compiled else TS.train_step
        if self.compiled and torch.device(device).type == "cuda":
            # the state the step updates in place: fixed addresses, so CUDA graphs can replay
            for t in (self.flat, self.m, self.v, self.t):
                torch._dynamo.mark_static_address(t)

    def step(self, t: int):
        return self.steps(t, t)

    def steps(self, first: int, last: int):
        """Steps first … last (the CPU trainer's interface); step last's losses."""
        if first != self.host_t + 1:
            raise ValueError(f"step {first} asked for after step {self.host_t}")
        cuda_graphs = self.compiled and torch.device(self.device).type == "cuda"
        for _ in range(first, last + 1):
            if cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            out = self._step(self.flat, self.m, self.v, self.t, self.consts, self.shapes,
                             self.upto, self.k, self.gating, self.reduction)
            self.host_t += 1
        # a CUDA graph's outputs are overwritten by its next replay
        return tuple(o.clone() for o in out) if cuda_graphs else out

    @torch.no_grad()
    def eval_loss(self, n_samples: int, seed: int, chunk: int = 2048) -> np.ndarray:
        """Reconstruction loss on one fresh batch that every instance shares (its random
        ties, if any, keyed by each run's tie key at step 0, which no training step uses)."""
        g = torch.Generator(device=self.device).manual_seed(seed)
        bt = self.bt
        u = torch.rand(n_samples, bt.p.shape[1], generator=g, device=self.device)
        total = torch.zeros(bt.p.shape[0], device=self.device)
        c = self.consts
        step0 = torch.zeros((), dtype=torch.int64, device=self.device)
        pos = (None if c.tie_keys is None
               else torch_rng.positions((self.W.shape[1], n_samples), self.device))
        for s in range(0, n_samples, chunk):
            x = data_mod.sample_shared(bt.p, bt.last_scale, u[s:s + chunk])
            prio = None if pos is None else TS.tie_priority(
                self.W.shape[1], c.tie_keys, c.random_inst, step0, pos[:, s:s + chunk])
            rec, _, _ = TS.forward(self.W, self.b, self.router,
                                   x.transpose(1, 2).contiguous(), bt.importance, bt.lb_coef,
                                   self.k, self.gating, self.reduction, prio)
            total += rec * x.shape[1]
        return (total / n_samples).cpu().numpy().astype(np.float64)

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(t.cpu().numpy().copy() for t in (self.W, self.b, self.router))

    def close(self) -> None:
        pass
