"""An experiment trained in this process and kept in memory, through the lab's own runner
(engine/runner.py) over MemoryLedger: what tests use to get a trained experiment's tables
without a database, or to write them into one of their own with Store.write_runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from moelab.engine.executors.inprocess import InProcessExecutor
from moelab.engine.families import family_of
from moelab.engine.runner import run_experiment
from moelab.engine.sweep import expand


class MemoryLedger:
    """The runner's Ledger in memory. Like the Store it stores a unit once, chooses the best
    seed of a point (lowest eval loss, lowest seed on a tie) once all its seeds are in, and
    marks the experiment done with its last unit."""

    def __init__(self):
        self.rows: dict[int, dict] = {}
        self.units: dict[int, dict[int, tuple]] = {}  # experiment -> index -> (unit, tables)
        self.calls: list[str] = []

    def create(self, name: str, config: str, device: str | None) -> int:
        self.calls.append("create")
        eid = len(self.rows) + 1
        self.rows[eid] = {"experiment_id": eid, "name": name, "config": config,
                          "status": "running", "message": None, "device": device,
                          "n_units": None, "unit_work": None}
        self.units[eid] = {}
        return eid

    def reading(self):
        return contextlib.nullcontext(None)

    def unit_work(self, experiment_id: int) -> float | None:
        return self.rows[experiment_id]["unit_work"]

    def set_plan(self, experiment_id: int, n_runs: int, n_units: int, unit_work: float) -> None:
        self.calls.append("set_plan")
        row = self.rows[experiment_id]
        row.update(n_runs=n_runs, n_units=n_units, unit_work=row["unit_work"] or unit_work)
        self._finish_if_complete(experiment_id)

    def stored_units(self, experiment_id: int) -> set[int]:
        return set(self.units[experiment_id])

    def write_unit(self, experiment_id: int, unit, result) -> int:
        self.calls.append(f"write {unit.index}")
        if unit.index in self.units[experiment_id]:
            return 0
        self.units[experiment_id][unit.index] = (unit, result.tables)
        self._finish_if_complete(experiment_id)
        return unit.n_runs

    def experiment(self, experiment_id: int) -> dict | None:
        return self.rows.get(experiment_id)

    def set_status(self, experiment_id: int, status: str, message: str) -> None:
        self.calls.append(f"status {status}")
        self.rows[experiment_id].update(status=str(status), message=message)

    def _finish_if_complete(self, experiment_id: int) -> None:
        row = self.rows[experiment_id]
        if row["n_units"] is not None and len(self.units[experiment_id]) >= row["n_units"]:
            row.update(status="done", message=f"{row['n_runs']} runs")

    def chunks(self, experiment_id: int) -> list[dict]:
        """The stored units' tables in unit order, runs.chosen set as the Store sets it."""
        stored = [self.units[experiment_id][i] for i in sorted(self.units[experiment_id])]
        sizes = {p: n for unit, _ in stored for p, n in unit.point_sizes}
        seen: dict[int, list] = {}
        for c, (_, tables) in enumerate(stored):
            runs = tables["runs"]
            for i, (p, seed, loss) in enumerate(zip(runs["point"], runs["seed"],
                                                    runs["eval_loss"], strict=True)):
                seen.setdefault(int(p), []).append((loss, seed, c, i))
        for _, tables in stored:
            tables["runs"]["chosen"] = np.array(tables["runs"]["chosen"], dtype=bool)
        for p, entries in seen.items():
            if p in sizes and len(entries) == sizes[p]:
                for _, _, c, i in entries:
                    stored[c][1]["runs"]["chosen"][i] = False
                _, _, c, i = min(entries)
                stored[c][1]["runs"]["chosen"][i] = True
        return [tables for _, tables in stored]


@dataclass
class InMemory:
    runs: list
    chunks: list[dict]  # each unit's tables, for Store.write_runs
    eval_loss: np.ndarray
    final_loss: np.ndarray
    chosen: np.ndarray
    device: str


def run_in_memory(cfg, device: str | None = "cpu") -> InMemory:
    """Train cfg's experiment here, through the runner, and keep its tables in memory."""
    ledger = MemoryLedger()
    end = run_experiment(ledger, family_of(cfg.to_json()), cfg, InProcessExecutor(),
                         device=device)
    assert end.status == "done", end.message
    runs = expand(cfg)
    chunks = ledger.chunks(end.experiment_id)
    units = sorted(ledger.units[end.experiment_id])
    out = {k: np.empty(len(runs)) for k in ("eval_loss", "final_loss", "chosen")}
    for i, tables in zip(units, chunks, strict=True):
        idx = list(ledger.units[end.experiment_id][i][0].run_indices)
        for k in out:
            out[k][idx] = tables["runs"][k]
    return InMemory(runs, chunks, out["eval_loss"], out["final_loss"],
                    out["chosen"].astype(bool), device or "cpu")
