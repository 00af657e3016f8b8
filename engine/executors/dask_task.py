"""What a Dask worker runs for the lab: one unit in, its result as bytes out.

Kept apart from dask.py so a worker imports only the engine, never the service's client.
"""

from __future__ import annotations

import time

PROGRESS_TOPIC = "moelab-progress"  # the workers' progress events, read by dask.py


def moelab_version() -> str:
    from importlib.metadata import version
    return version("moelab")


def train_unit(unit_json: str) -> bytes:
    """Train one unit on this Dask worker with as many threads as the worker has."""
    import torch
    from distributed import Event, get_worker

    from ..device import resolve_device
    from ..plan import Unit
    from ..unit import run_unit
    worker = get_worker()
    torch.set_num_threads(max(1, int(worker.state.nthreads)))
    unit = Unit.from_json(unit_json)
    device = resolve_device(unit.device)
    stop = Event(cancel_event_name(unit.experiment_id))
    last = [0.0, 0.0]

    def progress(p) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or p.step >= p.steps:
            last[0] = now
            worker.log_event(PROGRESS_TOPIC, {
                "experiment_id": unit.experiment_id, "unit": unit.index, "step": p.step,
                "steps": p.steps, "n_models": p.n_models, "loss": p.loss, "device": device})

    def cancelled() -> bool:  # a cancel reaches a running task through a Dask Event
        now = time.monotonic()
        if now - last[1] < 1.0:
            return False
        last[1] = now
        return stop.is_set()
    return run_unit(unit, progress, cancelled).to_bytes()


def cancel_event_name(experiment_id: int) -> str:
    return f"moelab-cancel-{experiment_id}"
