"""Shared pieces of the TUI tests: a seeded database and a fake lab client.

(No tests here; the other test_tui_* modules import from it.)
"""

from __future__ import annotations

import functools
import queue
import tempfile
from pathlib import Path

FIG4_TINY = {
    "model": {"kind": "moe", "k": 1},
    "data": {"importance": "uniform"},
    "train": {"steps": 60, "batch_size": 64, "lb_coef": 0.01, "seeds": 2, "select": "best",
              "eval_samples": 500},
    "sweep": {"data.sparsity": [0.1, 0.5, 0.9], "data.last_importance": [0.2, 1.0, 2.0],
              "variants": [{"model": {"kind": "dense", "n_features": 2, "d_hidden": 1}},
                           {"model": {"n_features": 2, "d_hidden": 1, "n_experts": 2}}]},
}


@functools.cache
def seeded_db() -> Path:
    """A database with a tiny fig4-like sweep (experiment 1), fig5 (2) and a
    table1-shaped run (3), trained in-process (a few seconds)."""
    from runner_support import run_in_memory

    from moelab.db import open_store
    from moelab.engine.config import from_dict
    from moelab.engine.presets import build_config

    path = Path(tempfile.mkdtemp(prefix="moelab-tui-")) / "seeded.duckdb"
    short = ["train.steps=60", "train.eval_samples=500"]
    experiments = [
        ("fig4-tiny", "fig4", from_dict(FIG4_TINY, name="fig4-tiny")),
        ("fig5", "fig5", build_config("fig5", quick=True, sets=short)),
        ("table1-tiny", "table1", build_config(
            "table1", quick=True, sets=short + ["model.n_features=10", "model.d_hidden=3",
                                                "model.n_experts=3", "train.seeds=3"])),
    ]
    with open_store(path) as store:
        for name, preset, cfg in experiments:
            result = run_in_memory(cfg, "cpu")
            exp = store.create_experiment(name, preset, cfg.to_json())
            store.write_runs(exp, result.chunks)
            store.set_experiment_status(exp, "done")
    return path


TWO_SETUPS = {
    "model": {"kind": "moe", "k": 1},
    "data": {"importance": "uniform"},
    "train": {"steps": 60, "batch_size": 64, "seeds": 1, "eval_samples": 300},
    "sweep": {"data.sparsity": [0.5, 0.9],
              "variants": [{"model": {"n_features": 2, "d_hidden": 1, "n_experts": 2}},
                           {"model": {"n_features": 3, "d_hidden": 1, "n_experts": 3}}]},
}


@functools.cache
def two_setups_db() -> Path:
    """One experiment with two MoE setups (E = 2 and E = 3) over two sparsities."""
    from runner_support import run_in_memory

    from moelab.db import open_store
    from moelab.engine.config import from_dict
    path = Path(tempfile.mkdtemp(prefix="moelab-tui-")) / "two.duckdb"
    cfg = from_dict(TWO_SETUPS, name="two-setups")
    with open_store(path) as store:
        exp = store.create_experiment("two-setups", None, cfg.to_json())
        store.write_runs(exp, run_in_memory(cfg, "cpu").chunks)
        store.set_experiment_status(exp, "done")
    return path


def empty_db() -> Path:
    from moelab.db import open_store
    path = Path(tempfile.mkdtemp(prefix="moelab-tui-")) / "empty.duckdb"
    open_store(path).close()
    return path


class FakeClient:
    """A DirectClient for reads plus a scripted service: submit/cancel are recorded and
    events come from a queue the test fills."""

    def __init__(self, db_path: Path, reads: dict | None = None):
        from moelab.engine.client import DirectClient
        self.direct = DirectClient(db_path)
        self.reads = reads or {}  # read name -> fn(**params), replacing the stored answer
        self.submitted: list[tuple] = []
        self.cancelled: list[int] = []
        self.event_queue: queue.Queue = queue.Queue()
        self.running: dict | None = None
        self.closed = False

    def sql(self, query, limit=None):
        return self.direct.sql(query, limit)

    def read(self, name, **params):
        if name in self.reads:
            return self.reads[name](**params)
        return self.direct.read(name, **params)

    def status(self):
        return {"service": {"pid": 1}, "running": self.running, "queued": [], "recent": []}

    def submit(self, config, preset=None, quick=False, name=None):
        self.submitted.append((config, preset, quick, name))
        return 100 + len(self.submitted)

    def cancel(self, experiment_id):
        self.cancelled.append(experiment_id)
        return f"experiment {experiment_id} cancelled"

    def events(self):
        while not self.closed:
            try:
                event = self.event_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            # status() answers what the stream last said, as the service's does.
            if event["type"] == "progress":
                self.running = {k: v for k, v in event.items() if k != "type"}
            elif event["status"] not in ("queued", "running"):
                self.running = None
            yield event

    def close(self):
        self.closed = True
        self.direct.close()


def phase_cells(grids: list[dict]) -> list[dict]:
    """The phase screen's grids (columns per setup) as one dict per cell."""
    return [dict(zip(g["columns"], values, strict=True))
            for g in grids for values in zip(*g["columns"].values(), strict=True)]


def phase_columns(cells: list[dict]) -> dict[str, list]:
    """A phase_grids answer's columns from one dict per cell."""
    return {k: [c[k] for c in cells] for k in (cells[0] if cells else {})}


def text(app, selector) -> str:
    """What a widget of the current screen renders, as text."""
    return str(app.screen.query_one(selector).render())


async def open_form(app, pilot):
    """Press 2 and wait until New experiment shows its fields and their model count."""
    from moelab.tui.screens.new_experiment import NewExperimentScreen
    await pilot.press("2")
    await until(pilot, lambda: isinstance(app.screen, NewExperimentScreen)
                and "model.n_features" in app.screen.inputs)
    screen = app.screen
    await until(pilot, lambda: "models" in text(app, "#summary"), timeout=30)
    return screen


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Let the app run until condition() holds (workers answer asynchronously)."""
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await pilot.pause(0.05)


def run_app_test(client, body, size=(100, 34), **kwargs):
    """Run `await body(app, pilot)` inside App.run_test, then close the client."""
    import asyncio

    from moelab.tui.app import MoelabApp

    async def main():
        app = MoelabApp(client, "test", **kwargs)
        async with app.run_test(size=size) as pilot:
            await body(app, pilot)
    try:
        asyncio.run(main())
    finally:
        client.close()
