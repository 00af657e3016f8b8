"""Helpers of the tests that drive a real lab service (test_service*.py, test_dask.py, ...)."""

from __future__ import annotations

import time

from moelab.engine.config import with_overrides
from moelab.engine.presets import get


def tiny(steps: int, sparsities: str = "0.5,0.9") -> dict:
    """tms-classic --quick cut to two models and a few steps."""
    return with_overrides(get("tms-classic").raw(True), [f"train.steps={steps}"],
                          [f"data.sparsity={sparsities}"])


def wait_for(predicate, timeout: float = 90.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(every)


def experiment(client, eid: int) -> dict:
    return client.read("experiment", experiment_id=eid)


def finished(client, eid: int) -> dict | None:
    row = experiment(client, eid)
    return row if row["status"] in ("done", "failed", "cancelled") else None
