"""Seed controls (issue 20): the same config queued again with other seeds, so that a
comparison can tell a difference from seed noise. The CLI (`moelab queue/run --control`,
moelab/control.py) and the New experiment form's toggle (tui/) both build it here.

A control keeps every field but train.seed, which moves past the original's seeds (seed + seeds,
so the two never share a seed), and is named "<name> (control of N)"; that name is its record:
`moelab compare N B` and the Compare view find it by it (db/reads/compare.py controls_of).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

SUFFIX = " (control of {})"


class ControlError(ValueError):
    """This config cannot have an automatic seed control."""


def control_name(name: str, experiment_id: int) -> str:
    return name + SUFFIX.format(int(experiment_id))


def control_raw(raw: dict, cfg: Config) -> dict:
    """The raw (TOML-shaped) config of the control: cfg's, with train.seed past its seeds.
    raw is left as it is."""
    swept = {key for key, _ in cfg.sweep.axes} | {k for v in cfg.sweep.variants for k, _ in v}
    if swept & {"train.seed", "train.seeds"}:
        raise ControlError("a seed control moves train.seed past the experiment's seeds; this "
                           "config sweeps train.seed or train.seeds itself, so queue the "
                           "control by hand with other seeds")
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    out["train"] = {**out.get("train", {}), "seed": cfg.train.seed + cfg.train.seeds}
    return out
