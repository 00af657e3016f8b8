"""Train one batch of runs (same shapes) as a single batched model.

Each instance's loss is a mean over its batch; instance losses are summed, so an
instance's gradient does not depend on how many others share the batch. The step itself
runs in a trainer for the device: engine/cpu (compiled, NumPy) or engine/torch_trainer
(CUDA); this module owns the loop, logging, progress and cancelling.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import data as data_mod
from .config_sections import plain
from .snapshots import Recorder, Snapshots, snapshot_steps
from .sweep import RunSpec

LOGGED = ("loss", "rec_loss", "lb_loss", "router_grad_norm")
TORCH_ON_CPU = {"torch-cpu": "cpu"}  # a device name that picks the torch trainer on the CPU


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
    snapshots: Snapshots | None = None  # train.snapshots > 0: weights at chosen steps
    init_router: np.ndarray | None = None  # (inst, E, n) the router before the first step


@dataclass(frozen=True)
class BatchSettings:
    """Per-instance data and loss settings of a batch, as arrays."""
    p: np.ndarray  # (inst, n) density
    importance: np.ndarray  # (inst, n)
    last_scale: np.ndarray  # (inst,)
    lb_coef: np.ndarray  # (inst,)

    @classmethod
    def of(cls, runs: list[RunSpec]) -> BatchSettings:
        n = runs[0].model.n_features
        return cls(
            p=np.stack([data_mod.density(r.data, n) for r in runs]),
            importance=np.stack([data_mod.importance(r.data, n, r.seed) for r in runs]),
            last_scale=np.array([r.data.last_scale for r in runs], dtype=np.float64),
            lb_coef=np.array([r.train.lb_coef for r in runs], dtype=np.float64),
        )


def data_key(run: RunSpec) -> int:
    """The key of a run's training-data streams: its data settings and seed, nothing else,
    so runs that differ only in the model (dense against MoE) see the same inputs."""
    ident = json.dumps({"n_features": run.model.n_features, "data": plain(run.data),
                        "seed": run.seed}, sort_keys=True, default=list)
    return int.from_bytes(hashlib.blake2b(ident.encode(), digest_size=8).digest(), "little")


def make_trainer(runs: list[RunSpec], device: str, settings: BatchSettings | None = None):
    from .inits import init_run, tie_key

    r0 = runs[0]
    m, t = r0.model, r0.train
    parts = [init_run(r) for r in runs]  # each from the run's own settings and seed
    ties = [tie_key(r) for r in runs]
    init = tuple(np.stack([p[i] for p in parts]).astype(np.float32) for i in range(3))
    settings = settings or BatchSettings.of(runs)
    common = dict(k=m.k, gating=m.gating, reduction=t.feature_reduction,
                  batch_size=t.batch_size, lr=t.lr, weight_decay=t.weight_decay)
    if device == "cpu":
        import torch

        from .cpu.trainer import CpuTrainer
        return CpuTrainer(init, settings, [data_key(r) for r in runs],
                          threads=torch.get_num_threads(), tie_keys=ties, **common)
    from .torch_trainer import TorchTrainer
    # the torch trainer's data and ties are keyed per run as the CPU's; "torch-cpu" runs it
    # on the CPU (tests, and the GPU script's smoke run)
    return TorchTrainer(init, settings, [data_key(r) for r in runs], tie_keys=ties,
                        device=TORCH_ON_CPU.get(device, device), **common)


def train_batch(runs: list[RunSpec], device: str = "cpu",
                progress: Callable[[Progress], None] | None = None,
                cancel: Callable[[], bool] | None = None,
                progress_every: int = 50) -> BatchResult:
    r0 = runs[0]
    t = r0.train
    started = time.time()
    t0 = time.perf_counter()
    settings = BatchSettings.of(runs)
    trainer = make_trainer(runs, device, settings)
    log_steps, log_vals = [], {name: [] for name in LOGGED}
    recorder = Recorder(snapshot_steps(t.steps, t.snapshots, t.snapshot_spacing))
    try:
        init_router = trainer.weights()[2]
        recorder.take(0, trainer)  # the initialisation, before the first update
        step = 0
        for last in _stops(t.steps, t.log_every, progress_every, recorder.steps):
            if cancel is not None and cancel():
                raise Cancelled()
            # the steps up to the next one anything reads run in one hand-over
            rec, lb, grad_norm = trainer.steps(step + 1, last)
            step = last
            recorder.take(step, trainer)
            if step % t.log_every == 0 or step == t.steps or step == 1:
                log_steps.append(step)
                log_vals["loss"].append(rec + lb)
                log_vals["rec_loss"].append(rec)
                log_vals["lb_loss"].append(lb)
                log_vals["router_grad_norm"].append(grad_norm)
            if progress is not None and (step % progress_every == 0 or step == t.steps):
                progress(Progress(step, t.steps, len(runs), float((rec + lb).mean())))
        final = _numpy(rec + lb)
        ev = trainer.eval_loss(t.eval_samples, seed=t.seed + 999_983)
        W, b, router = trainer.weights()
    finally:
        trainer.close()
    return BatchResult(
        W=W, b=b, router=router,
        importance=settings.importance,
        final_loss=final, eval_loss=ev,
        log_steps=np.asarray(log_steps),
        log={k: np.stack([_numpy(a) for a in v], 1) for k, v in log_vals.items()},
        train_seconds=time.perf_counter() - t0, started_at=started, finished_at=time.time(),
        device=device, snapshots=recorder.result(), init_router=_numpy(init_router))


def _stops(steps: int, log_every: int, progress_every: int, snapshot_at) -> list[int]:
    """The steps after which the loop reads the trainer (logs, progress and cancel checks,
    snapshots), in order; the steps between them run in one call."""
    at = {1, steps, *range(log_every, steps + 1, log_every),
          *range(progress_every, steps + 1, progress_every)}
    at.update(int(s) for s in snapshot_at if s > 0)
    return sorted(at)


def _numpy(a) -> np.ndarray:
    return a.cpu().numpy() if hasattr(a, "cpu") else np.asarray(a)
