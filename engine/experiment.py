"""Run a whole experiment: expand the sweep, train each batch, pick the best seeds, measure.

Pure compute: the result holds table columns ready for the store, nothing is written here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .config import Config
from .data import density
from .device import resolve_device
from .summary import summarize
from .sweep import RunSpec, batches, expand
from .train import LOGGED, BatchResult, Progress, train_batch


@dataclass
class ExperimentProgress:
    """What a progress bar needs: overall instance-steps done, and the current batch."""
    batch: int
    n_batches: int
    step: int
    steps: int
    models_done: int
    n_models: int
    work_done: int  # instance-steps finished
    work_total: int
    loss: float
    device: str


@dataclass
class ExperimentResult:
    config: Config
    runs: list[RunSpec]
    chunks: list[dict] = field(default_factory=list)  # tables for Store.write_runs
    eval_loss: np.ndarray | None = None
    final_loss: np.ndarray | None = None
    chosen: np.ndarray | None = None
    seconds: float = 0.0
    device: str = "cpu"


def run_experiment(cfg: Config, device: str | None = None,
                   progress: Callable[[ExperimentProgress], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> ExperimentResult:
    t0 = time.perf_counter()
    runs = expand(cfg)
    dev = resolve_device(device or cfg.train.device)
    groups = batches(runs)
    work_total = sum(runs[g[0]].train.steps * len(g) for g in groups)
    results: list[BatchResult] = []
    work_done = models_done = 0
    for bi, idx in enumerate(groups):
        def on_step(p: Progress, bi=bi, base=work_done, done=models_done) -> None:
            if progress is not None:
                progress(ExperimentProgress(bi + 1, len(groups), p.step, p.steps, done,
                                            len(runs), base + p.step * p.n_models, work_total,
                                            p.loss, dev))
        results.append(train_batch([runs[i] for i in idx], dev, on_step, cancel))
        work_done += runs[idx[0]].train.steps * len(idx)
        models_done += len(idx)
    eval_loss = np.empty(len(runs))
    final_loss = np.empty(len(runs))
    for idx, res in zip(groups, results, strict=True):
        eval_loss[idx] = res.eval_loss
        final_loss[idx] = res.final_loss
    chosen = choose(runs, eval_loss)
    chunks = [run_tables([runs[i] for i in idx], res, chosen[idx])
              for idx, res in zip(groups, results, strict=True)]
    return ExperimentResult(cfg, runs, chunks, eval_loss, final_loss, chosen,
                            time.perf_counter() - t0, dev)


def choose(runs: list[RunSpec], eval_loss: np.ndarray) -> np.ndarray:
    """select = "best": per sweep point the seed with the lowest evaluation loss;
    select = "all": every seed counts."""
    chosen = np.zeros(len(runs), dtype=bool)
    best: dict[int, int] = {}
    for i, r in enumerate(runs):
        if r.train.select == "all":
            chosen[i] = True
        elif r.point not in best or eval_loss[i] < eval_loss[best[r.point]]:
            best[r.point] = i
    chosen[list(best.values())] = True
    return chosen


def run_tables(runs: list[RunSpec], res: BatchResult, chosen: np.ndarray) -> dict:
    """The columns of one batch for the store's runs/experts/features/metrics/weights."""
    r0 = runs[0]
    m = r0.model
    n_inst, E = res.W.shape[:2]
    p = np.stack([density(r.data, m.n_features) for r in runs])
    last_scale = np.array([r.data.last_scale for r in runs])
    s = summarize(res.W, res.b, res.router, m.k, p, last_scale, res.importance)
    col = lambda f: [f(r) for r in runs]  # noqa: E731
    runs_cols = {
        "local_index": np.arange(n_inst),
        "status": ["done"] * n_inst,
        "kind": col(lambda r: r.model.kind),
        "n_features": col(lambda r: r.model.n_features),
        "d_hidden": col(lambda r: r.model.d_hidden),
        "n_experts": col(lambda r: r.model.n_experts),
        "k": col(lambda r: r.model.k),
        "gating": col(lambda r: r.model.gating),
        "router_init": col(lambda r: r.model.router_init if isinstance(r.model.router_init, str)
                           else "matrix"),
        "sparsity": 1.0 - p.mean(1),
        "last_importance": col(lambda r: float(r.data.last_importance)),
        "last_scale": last_scale,
        "seed": col(lambda r: r.seed),
        "chosen": chosen,
        "point": col(lambda r: r.point),
        "steps": col(lambda r: r.train.steps),
        "batch_size": col(lambda r: r.train.batch_size),
        "lr": col(lambda r: float(r.train.lr)),
        "weight_decay": col(lambda r: float(r.train.weight_decay)),
        "lb_coef": col(lambda r: float(r.train.lb_coef)),
        "device": [res.device] * n_inst,
        "started_at": np.full(n_inst, res.started_at),
        "finished_at": np.full(n_inst, res.finished_at),
        # wall time of the batch shared evenly: what one model cost inside the batch
        "train_seconds": np.full(n_inst, res.train_seconds / n_inst),
        "final_loss": res.final_loss.astype(np.float64),
        "eval_loss": res.eval_loss.astype(np.float64),
        **s["runs"],
        "config": col(lambda r: r.to_json()),
    }
    experts = s["experts"]
    features = s["features"]
    n_logs = len(res.log_steps)
    metrics = {
        "local_index": np.repeat(np.arange(n_inst), n_logs * len(LOGGED)),
        "step": np.tile(res.log_steps, n_inst * len(LOGGED)),
        "name": [name for _ in range(n_inst) for name in LOGGED for _ in range(n_logs)],
        "value": np.stack([res.log[name] for name in LOGGED], 1).ravel().astype(np.float64),
    }
    weights = {
        "local_index": np.repeat(np.arange(n_inst), E),
        "expert": np.tile(np.arange(E), n_inst),
        "W": res.W.reshape(n_inst * E, -1).astype(np.float32),
        "b": res.b.reshape(n_inst * E, -1).astype(np.float32),
        "router": res.router.reshape(n_inst * E, -1).astype(np.float32),
    }
    experts["local_index"] = experts.pop("inst")
    features["local_index"] = features.pop("inst")
    return {"runs": runs_cols, "experts": experts, "features": features, "metrics": metrics,
            "weights": weights}
