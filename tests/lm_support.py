"""A tiny stored lm experiment (a dense and an MoE model of a few thousand weights, trained
in a few seconds through the lab service's own path) for the view, figure and REPORT tests."""

from __future__ import annotations

from pathlib import Path

TINY_PAIR = {"family": "lm",
             "model": {"n_layers": 2, "d_model": 32, "n_heads": 2, "context": 32, "d_mlp": 64,
                       "vocab_size": 300},
             "data": {"chars": 20_000},
             "train": {"steps": 20, "batch_size": 8, "lr": 1e-2, "eval_tokens": 256,
                       "snapshots": 2, "log_every": 10},
             "sweep": {"variants": [{"model": {"n_experts": 1, "k": 1}},
                                    {"model": {"n_experts": 4, "k": 2}}]}}


def train_tiny_pair(db: Path) -> int:
    """Train TINY_PAIR into the database at db; its experiment id."""
    from moelab.db import open_store
    from moelab.engine.executors.inprocess import InProcessExecutor
    from moelab.engine.service.core import LabService
    from moelab.engine.service.paths import ServicePaths
    with open_store(db) as store:
        svc = LabService(store, ServicePaths.of(db), executor=InProcessExecutor())
        eid = svc.submit(config=TINY_PAIR, name="lm pair")
        svc.scheduler.run_job(svc.claim_next())
        row = store.experiment(eid)
        assert row["status"] == "done", row["message"]
    return eid
