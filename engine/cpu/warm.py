"""Compile the CPU kernels ahead of the first experiment: `python -m moelab.engine.cpu.warm`.

numba compiles on first use (about a minute on 2 cores) and caches the machine code beside
the sources; ./lab and ./test run this once after installing, so no experiment waits.
Every shape uses the same compiled code (shapes are runtime values), so one tiny batch of
each kind of call covers them all.
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import numpy as np


def warm() -> float:
    from .trainer import CpuTrainer, loss_and_grads

    t0 = time.perf_counter()
    n, m, E, k = 3, 2, 3, 2
    rng = np.random.default_rng(0)
    init = (rng.normal(size=(2, E, m, n)), np.zeros((2, E, n)), rng.normal(size=(2, E, n)))
    # the fields of engine.train.BatchSettings (a namespace: cpu/ must not import train,
    # which imports cpu/)
    settings = SimpleNamespace(p=np.full((2, n), 0.5), importance=np.ones((2, n)),
                               last_scale=np.ones(2), lb_coef=np.full(2, 0.01))
    tr = CpuTrainer(init, settings, [1, 2], k=k, gating="renorm", reduction="sum",
                    batch_size=8, lr=1e-3, weight_decay=0.01, threads=1)
    tr.steps(1, 2)
    tr.eval_loss(8, seed=0)
    tr.close()
    loss_and_grads(init, rng.random((2, 8, n)), settings.importance, settings.lb_coef, k,
                   "renorm")
    # fig4's eight shapes train with a step compiled per shape (fused.py), renorm gating
    for n, m in ((2, 1), (3, 1), (3, 2)):
        for E in range(1, n + 1):
            init = (rng.normal(size=(1, E, m, n)), np.zeros((1, E, n)),
                    rng.normal(size=(1, E, n)))
            s1 = SimpleNamespace(p=np.full((1, n), 0.5), importance=np.ones((1, n)),
                                 last_scale=np.ones(1), lb_coef=np.full(1, 0.01))
            tr = CpuTrainer(init, s1, [1], k=1, gating="renorm", reduction="sum",
                            batch_size=8, lr=1e-3, weight_decay=0.01, threads=1)
            tr.steps(1, 1)
            tr.close()
    n, m, E = 3, 2, 3
    init = (rng.normal(size=(2, E, m, n)), np.zeros((2, E, n)), rng.normal(size=(2, E, n)))
    # the per-run metrics after training (engine/cpu/metrics.py)
    from . import metrics_run
    W, b, router = init
    mono = np.ones((2, E, n), bool)
    metrics_run.routing_stats(W, b, router, k, settings.p, settings.last_scale, mono, None, 8, 0)
    metrics_run.dense_usage(router, k, mono, rng.random((8, n)))
    metrics_run.lens(W, b, router, k, "renorm", settings.importance, settings.p,
                     settings.last_scale, 8, 0, 1.0)
    return time.perf_counter() - t0


if __name__ == "__main__":
    seconds = warm()
    print(f"moelab: CPU kernels ready ({seconds:.0f} s)", file=sys.stderr)
