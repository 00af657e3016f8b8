"""Families of models the lab trains: a small registry instead of branches in the trainer.

A family module has NAME, runs_of(config_text, run_indices) -> runs, and
train(runs, device, progress, cancel) -> tables for Store.write_unit. The toy models
(dense and MoE, SPEC) are one family; a crosscoder would be another.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_FAMILIES = {"toy": "moelab.engine.families.toy"}


def family(name: str) -> ModuleType:
    try:
        return importlib.import_module(_FAMILIES[name])
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: "
                         f"{', '.join(sorted(_FAMILIES))}") from None
