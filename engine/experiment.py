"""Run a whole experiment in this process and keep its tables in memory: what tests,
benchmarks and scripts use. The lab itself trains the same units through an executor and
stores each as it finishes (plan.py, unit.py, executors/, service/); the best seed is
chosen the same way (`choose` here, SQL in the store), lowest eval loss, first seed on ties.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .config import Config
from .device import resolve_device
from .plan import plan
from .sweep import RunSpec, expand
from .unit import run_unit


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
                   cancel: Callable[[], bool] | None = None) -> ExperimentResult:
    t0 = time.perf_counter()
    runs = expand(cfg)
    dev = resolve_device(device or cfg.train.device)
    units = plan(cfg, runs=runs, device=dev)
    eval_loss = np.empty(len(runs))
    final_loss = np.empty(len(runs))
    chunks = []
    for unit in units:
        tables = run_unit(unit, cancel=cancel).tables
        idx = list(unit.run_indices)
        eval_loss[idx] = tables["runs"]["eval_loss"]
        final_loss[idx] = tables["runs"]["final_loss"]
        chunks.append((idx, tables))
    chosen = choose(runs, eval_loss)
    for idx, tables in chunks:
        tables["runs"]["chosen"] = chosen[idx]
    return ExperimentResult(cfg, runs, [t for _, t in chunks], eval_loss, final_loss, chosen,
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
