"""Train one batch of runs (same shapes) as a single batched model.

Each instance's loss is a mean over its batch; instance losses are summed, so an
instance's gradient does not depend on how many others share the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import data as data_mod
from .model import Kernel, Params, Routing, Workspace, init_params
from .sweep import RunSpec

LOGGED = ("loss", "rec_loss", "lb_loss", "router_grad_norm")


class Cancelled(Exception):
    """Raised when the cancel flag is set; nothing of the batch is kept."""


@dataclass
class Progress:
    step: int
    steps: int
    n_models: int
    loss: float  # mean loss over instances at this step


@dataclass
class BatchResult:
    W: np.ndarray  # (inst, E, m, n)
    b: np.ndarray  # (inst, E, n)
    router: np.ndarray  # (inst, E, n)
    importance: np.ndarray  # (inst, n)
    final_loss: np.ndarray  # (inst,) last training batch
    eval_loss: np.ndarray  # (inst,) reconstruction loss on a fresh shared batch
    log_steps: np.ndarray  # (n_logs,)
    log: dict[str, np.ndarray]  # name -> (inst, n_logs)
    train_seconds: float
    started_at: float
    finished_at: float
    device: str


@dataclass
class BatchTensors:
    """Per-instance data settings as tensors."""
    p: torch.Tensor  # (inst, n) density
    importance: torch.Tensor  # (inst, n)
    last_scale: torch.Tensor  # (inst,)
    lb_coef: torch.Tensor  # (inst,)

    @classmethod
    def of(cls, runs: list[RunSpec], device) -> BatchTensors:
        n = runs[0].model.n_features
        as_t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
        return cls(
            p=as_t([data_mod.density(r.data, n) for r in runs]),
            importance=as_t([data_mod.importance(r.data, n, r.seed) for r in runs]),
            last_scale=as_t([r.data.last_scale for r in runs]),
            lb_coef=as_t([r.train.lb_coef for r in runs]),
        )


class _Losses(torch.autograd.Function):
    """Autograd face of the hand-derived kernel (the training loop calls the kernel directly)."""

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


CHUNK_ELEMENTS = 1 << 18  # floats in one block's largest activation (about 1 MB)


def instance_chunks(n_inst: int, model, batch: int,
                    target: int | None = None) -> list[tuple[int, int]]:
    """Blocks of instances trained one after another within a step. Depends only on the
    shapes, so the same config gives the same blocks (and the same data) on any machine."""
    per = batch * max(model.n_features, model.n_experts * model.d_hidden)
    size = max(1, min(n_inst, (target or CHUNK_ELEMENTS) // per))
    n = -(-n_inst // size)
    size = -(-n_inst // n)  # even blocks
    return [(i, min(i + size, n_inst)) for i in range(0, n_inst, size)]


def train_batch(runs: list[RunSpec], device: str = "cpu",
                progress: Callable[[Progress], None] | None = None,
                cancel: Callable[[], bool] | None = None,
                progress_every: int = 50) -> BatchResult:
    r0 = runs[0]
    m, t = r0.model, r0.train
    started = time.time()
    t0 = time.perf_counter()
    init = init_params([r.model for r in runs], [r.seed for r in runs], device)
    shapes = [tuple(a.shape) for a in init.tensors()]
    total = sum(int(np.prod(s)) for s in shapes)
    flat = torch.empty(total, device=device)
    W, b, router = _flat_views(flat, shapes)
    for dst, src in zip((W, b, router), init.tensors(), strict=True):
        dst.copy_(src.detach())
    grad = torch.zeros_like(flat)
    dW, db, drouter = _flat_views(grad, shapes)
    dense = m.n_experts == 1
    # a dense model's router is never used: it gets no gradient and no update (not even decay)
    upto = W.numel() + b.numel() if dense else None
    opt = AdamW(flat, lr=t.lr, weight_decay=t.weight_decay)
    bt = BatchTensors.of(runs, device)
    kern = Kernel(m.k, m.gating, t.feature_reduction)
    sampler = data_mod.Sampler(bt.p, bt.last_scale, t.batch_size, _batch_seed(runs))
    ones = torch.ones(len(runs), device=device)
    chunks = instance_chunks(len(runs), m, t.batch_size)
    log_steps, log_vals = [], {name: [] for name in LOGGED}
    n_inst = len(runs)
    try:
        for step in range(1, t.steps + 1):
            if cancel is not None and cancel():
                raise Cancelled()
            recs, lbs = [], []
            # instances are independent: a block at a time keeps its activations in cache
            for i0, i1 in chunks:
                x = sampler.draw(i0, i1)
                sl = slice(i0, i1)
                rec, lb = kern.forward(W[sl], b[sl], router[sl], x, bt.importance[sl],
                                       bt.lb_coef[sl])
                kern.backward(ones[sl], ones[sl], dW[sl], db[sl], drouter[sl])
                recs.append(rec)
                lbs.append(lb)
            rec, lb = (torch.cat(recs), torch.cat(lbs)) if len(chunks) > 1 else (rec, lb)
            loss = rec + lb
            if step % t.log_every == 0 or step == t.steps or step == 1:
                log_steps.append(step)
                log_vals["loss"].append(loss)
                log_vals["rec_loss"].append(rec)
                log_vals["lb_loss"].append(lb)
                log_vals["router_grad_norm"].append(
                    torch.zeros_like(rec) if dense else drouter.flatten(1).norm(dim=1))
            opt.step(grad, upto)
            if progress is not None and (step % progress_every == 0 or step == t.steps):
                progress(Progress(step, t.steps, n_inst, float(loss.mean())))
    finally:
        sampler.close()
    final = loss
    params = Params(W, b, router)
    ev = eval_loss(params, bt, m.k, m.gating, t.feature_reduction, t.eval_samples,
                   seed=r0.train.seed + 999_983, device=device)
    seconds = time.perf_counter() - t0
    return BatchResult(
        W=W.cpu().numpy().copy(), b=b.cpu().numpy().copy(),
        router=router.cpu().numpy().copy(),
        importance=bt.importance.cpu().numpy(),
        final_loss=final.cpu().numpy(), eval_loss=ev,
        log_steps=np.asarray(log_steps),
        log={k: torch.stack(v, 1).cpu().numpy() for k, v in log_vals.items()},
        train_seconds=seconds, started_at=started, finished_at=time.time(), device=device)


@torch.no_grad()
def eval_loss(params: Params, bt: BatchTensors, k: int, gating: str, reduction: str,
              n_samples: int, seed: int, device, chunk: int = 2048) -> np.ndarray:
    """Reconstruction loss on one fresh batch that every instance shares (SPEC: best of N
    seeds is judged here, not on the noisy last training batch)."""
    g = torch.Generator(device=device).manual_seed(seed)
    u = torch.rand(n_samples, bt.p.shape[1], generator=g, device=device)
    total = torch.zeros(bt.p.shape[0], device=device)
    kern = Kernel(k, gating, reduction, Workspace())
    W, b, router = (t.detach() for t in params.tensors())
    for s in range(0, n_samples, chunk):
        x = data_mod.sample_shared(bt.p, bt.last_scale, u[s:s + chunk])
        rec, _ = kern.forward(W, b, router, x.transpose(1, 2).contiguous(), bt.importance,
                              bt.lb_coef, keep=False)
        total += rec * x.shape[1]
    return (total / n_samples).cpu().numpy()


def _batch_seed(runs: list[RunSpec]) -> int:
    return (runs[0].seed * 1_000_003 + len(runs)) % (2**62)
