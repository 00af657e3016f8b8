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
from .model import Params, Routing, forward, init_params
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


def losses(params: Params, x: torch.Tensor, bt: BatchTensors, k: int, gating: str,
           reduction: str) -> tuple[torch.Tensor, torch.Tensor, Routing | None]:
    """Per-instance reconstruction and load-balancing losses, each (inst,)."""
    x_hat, routing = forward(params, x, k, gating)
    err = bt.importance[:, None, :] * (x - x_hat) ** 2
    per_sample = err.sum(-1) if reduction == "sum" else err.mean(-1)
    rec = per_sample.mean(-1)
    if routing is None:
        return rec, torch.zeros_like(rec), None
    E = routing.probs.shape[-1]
    f = routing.chosen.mean(1)  # fraction of the batch whose top-k holds e
    P = routing.probs.mean(1)
    lb = bt.lb_coef * E * (f * P).sum(-1)
    return rec, lb, routing


def train_batch(runs: list[RunSpec], device: str = "cpu",
                progress: Callable[[Progress], None] | None = None,
                cancel: Callable[[], bool] | None = None,
                progress_every: int = 50) -> BatchResult:
    r0 = runs[0]
    m, t = r0.model, r0.train
    started = time.time()
    t0 = time.perf_counter()
    params = init_params([r.model for r in runs], [r.seed for r in runs], device)
    bt = BatchTensors.of(runs, device)
    opt = torch.optim.AdamW(params.tensors(), lr=t.lr, weight_decay=t.weight_decay,
                            betas=(0.9, 0.999), eps=1e-8)
    # One data stream per batch, seeded by its runs: same config and seeds, same data.
    gen = torch.Generator(device=device).manual_seed(_batch_seed(runs))
    log_steps, log_vals = [], {name: [] for name in LOGGED}
    n_inst = len(runs)
    for step in range(1, t.steps + 1):
        if cancel is not None and cancel():
            raise Cancelled()
        x = data_mod.sample(bt.p, bt.last_scale, t.batch_size, gen)
        rec, lb, _ = losses(params, x, bt, m.k, m.gating, t.feature_reduction)
        loss = rec + lb
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        if step % t.log_every == 0 or step == t.steps or step == 1:
            log_steps.append(step)
            log_vals["loss"].append(loss.detach())
            log_vals["rec_loss"].append(rec.detach())
            log_vals["lb_loss"].append(lb.detach())
            g = params.router.grad  # None for a single expert: its router is never used
            log_vals["router_grad_norm"].append(
                torch.zeros_like(rec) if g is None else g.flatten(1).norm(dim=1))
        opt.step()
        if progress is not None and (step % progress_every == 0 or step == t.steps):
            progress(Progress(step, t.steps, n_inst, float(loss.detach().mean())))
    final = loss.detach()
    ev = eval_loss(params, bt, m.k, m.gating, t.feature_reduction, t.eval_samples,
                   seed=r0.train.seed + 999_983, device=device)
    seconds = time.perf_counter() - t0
    return BatchResult(
        W=params.W.detach().cpu().numpy(), b=params.b.detach().cpu().numpy(),
        router=params.router.detach().cpu().numpy(),
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
    for s in range(0, n_samples, chunk):
        x = data_mod.sample_shared(bt.p, bt.last_scale, u[s:s + chunk])
        rec, _, _ = losses(params, x, bt, k, gating, reduction)
        total += rec * x.shape[1]
    return (total / n_samples).cpu().numpy()


def _batch_seed(runs: list[RunSpec]) -> int:
    return (runs[0].seed * 1_000_003 + len(runs)) % (2**62)
