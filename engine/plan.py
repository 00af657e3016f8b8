"""Plan an experiment as work units: the sweep's runs, grouped into batches of one shape,
then cut into units sized to train in about a minute here.

A Unit is plain data (no paths, no database, no tensors), so it crosses to a spawned worker
or a Dask worker as a few hundred bytes of JSON: the experiment's config text and the
positions of its runs in the expanded sweep, which the worker expands once and caches. The
plan depends only on the config and the unit size recorded with the experiment, so a
restarted service plans the same units and trains only those not yet stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from .config import Config
from .sweep import RunSpec, batches, expand

# Work is counted in sample-ops: instance-steps x batch x (the routed matmuls + routing +
# a fixed per-sample overhead). The CPU kernel does about 3e9 a second on 2 cores (W1 of
# `moelab bench`), so a unit of 1.5e11 takes about a minute there; MOELAB_UNIT_WORK
# overrides it (tests use tiny units). An experiment keeps the size it was first planned
# with, so a restart plans the same units.
DEFAULT_UNIT_WORK = 1.5e11
_PER_SAMPLE_OVERHEAD = 64


@dataclass(frozen=True)
class Unit:
    experiment_id: int
    index: int
    family: str  # families/ registry key: "toy"
    config: str  # the experiment's Config.to_json()
    run_indices: tuple[int, ...]  # positions in expand(config): the runs this unit trains
    point_sizes: tuple[tuple[int, int], ...]  # (sweep point, planned runs of that point)
    device: str  # the requested device: auto, cpu or cuda (resolved where it trains)
    work: int  # instance-steps, for progress
    # Stored data the family needs besides its config, as JSON text (a crosscoder's: the
    # weights of the runs it diffs, read from the store when the service planned it).
    inputs: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Unit:
        d = json.loads(text)
        d["run_indices"] = tuple(d["run_indices"])
        d["point_sizes"] = tuple(tuple(p) for p in d["point_sizes"])
        return cls(**d)

    @property
    def n_runs(self) -> int:
        return len(self.run_indices)


def unit_work_default() -> float:
    raw = os.environ.get("MOELAB_UNIT_WORK")
    try:
        return float(raw) if raw else DEFAULT_UNIT_WORK
    except ValueError:
        return DEFAULT_UNIT_WORK


def run_cost(run: RunSpec) -> float:
    """Sample-ops of one training step of one run (see DEFAULT_UNIT_WORK)."""
    m = run.model
    per_sample = m.k * m.d_hidden * m.n_features * 2 + m.n_experts * m.n_features \
        + _PER_SAMPLE_OVERHEAD
    return float(run.train.batch_size * per_sample)


def plan(cfg: Config, experiment_id: int = 0, unit_work: float | None = None,
         runs: list[RunSpec] | None = None, device: str | None = None) -> list[Unit]:
    """The experiment's units, in run order within each shape batch."""
    runs = expand(cfg) if runs is None else runs
    unit_work = unit_work or unit_work_default()
    text = cfg.to_json()
    per_point: dict[int, int] = {}
    for r in runs:  # select = "all" keeps every seed: no choice to make later
        if r.train.select == "best":
            per_point[r.point] = per_point.get(r.point, 0) + 1
    units: list[Unit] = []
    for group in batches(runs):
        r0 = runs[group[0]]
        size = max(1, int(unit_work // (run_cost(r0) * r0.train.steps)))
        for start in range(0, len(group), size):
            idx = tuple(group[start:start + size])
            points = sorted({runs[i].point for i in idx} & per_point.keys())
            units.append(Unit(experiment_id, len(units), "toy", text, idx,
                              tuple((p, per_point[p]) for p in points),
                              device or cfg.train.device, r0.train.steps * len(idx)))
    return units
