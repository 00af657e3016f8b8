"""Families of models the lab trains: a small registry instead of branches in the trainer.

A family module has config_from_stored(text) -> its config type and plan(cfg,
experiment_id, unit_work, device, store) -> units (engine/runner.py plans, with the store
the family may read); runs_of(config_text, run_indices, inputs) -> runs, and
train(runs, device, progress, cancel) -> tables for Store.write_unit (on any worker). The
toy models (dense and MoE, SPEC) are one family, crosscoders that diff two of them another.
A stored config names its family with a top-level "family" key (toy when absent).
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType

_FAMILIES = {"toy": "moelab.engine.families.toy",
             "crosscoder": "moelab.engine.families.crosscoder"}


def family(name: str) -> ModuleType:
    try:
        return importlib.import_module(_FAMILIES[name])
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: "
                         f"{', '.join(sorted(_FAMILIES))}") from None


def family_of(config: dict | str) -> ModuleType:
    """The family of a raw config (dict) or a stored one (JSON text)."""
    if isinstance(config, (str, bytes)):
        try:
            config = json.loads(config)
        except ValueError:
            config = {}
    name = config.get("family", "toy") if isinstance(config, dict) else "toy"
    return family(str(name))
