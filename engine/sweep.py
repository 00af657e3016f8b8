"""Expand a config's sweep into runs, and group runs that share shapes into batches.

A run is one (sweep point, seed). Runs whose shapes and optimiser settings agree train
together as one batched model; everything else about a run (data, importance, router
init, load-balancing coefficient, seed) may differ per instance.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass

from .config import SECTIONS, Config, ConfigError, DataConfig, ModelConfig, TrainConfig
from .config_sections import plain


@dataclass(frozen=True)
class RunSpec:
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    seed: int
    point: int  # sweep-point index; the seeds of one point share it
    labels: tuple = ()  # (key, value) of every swept field, for display

    def to_json(self) -> str:
        """The run's own config (the seed in train.seed), as stored with it."""
        return json.dumps({"model": plain(self.model), "data": plain(self.data),
                           "train": {**plain(self.train), "seed": self.seed}},
                          default=list)

    def batch_key(self) -> tuple:
        m, t = self.model, self.train
        return (m.kind, m.n_features, m.d_hidden, m.n_experts, m.k, m.gating, m.bias_init,
                t.steps, t.batch_size, t.lr, t.weight_decay, t.feature_reduction,
                t.eval_samples, t.log_every, t.snapshots, t.snapshot_spacing)


def apply_overrides(cfg: Config, overrides) -> Config:
    """Replace section.field values; dense variants get n_experts = k = 1 implicitly."""
    parts = {s: {} for s in SECTIONS}
    for key, value in overrides:
        section, fld = key.split(".")
        parts[section][fld] = value
    model = dataclasses.replace(cfg.model, **parts["model"])
    if model.kind == "dense" and "n_experts" not in parts["model"]:
        model = dataclasses.replace(model, n_experts=1, k=1)
    return dataclasses.replace(cfg, model=model,
                               data=dataclasses.replace(cfg.data, **parts["data"]),
                               train=dataclasses.replace(cfg.train, **parts["train"]))


def expand(cfg: Config) -> list[RunSpec]:
    """Every run of the experiment, validated; all problems reported at once."""
    keys = [k for k, _ in cfg.sweep.axes]
    grids = [v for _, v in cfg.sweep.axes]
    runs: list[RunSpec] = []
    problems: list[str] = list(cfg.sweep.problems())  # every point shares the sweep
    point = 0
    for variant in cfg.sweep.variants or ((),):
        for combo in itertools.product(*grids):
            overrides = list(variant) + list(zip(keys, combo, strict=True))
            pc = apply_overrides(cfg, overrides)
            found = pc.section_problems()
            for p in found:
                if p not in problems:
                    problems.append(p)
            if not found:
                for s in range(pc.train.seeds):
                    runs.append(RunSpec(pc.model, pc.data, pc.train, pc.train.seed + s, point,
                                        tuple(overrides)))
            point += 1
    if problems:
        raise ConfigError(problems)
    return runs


def batches(runs: list[RunSpec], max_elements: int = 1 << 26) -> list[list[int]]:
    """Indices of runs grouped by batch key, each group split so that the largest activation
    (inst × batch × max(features, experts × d_hidden)) stays below max_elements; the engine
    computes only the routed experts, so no tensor is batch × experts × features."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(runs):
        groups.setdefault(r.batch_key(), []).append(i)
    out = []
    for idx in groups.values():
        r = runs[idx[0]]
        m = r.model
        per_inst = r.train.batch_size * max(m.n_features, m.n_experts * m.d_hidden)
        cap = max(1, max_elements // per_inst)
        out += [idx[i:i + cap] for i in range(0, len(idx), cap)]
    return out


def count_models(cfg: Config) -> int:
    return len(expand(cfg))
