"""Families of models the lab trains: a small registry instead of branches in the trainer.

Each family is a module (or package) with the members of `Family` below. The toy models
(dense and MoE, SPEC) are one family, crosscoders that diff two of them another, small
language models (dense and MoE transformers, engine/families/lm/) a third. A stored config
names its family with a top-level "family" key (toy when absent); nothing outside this
package asks which family a config is: it asks the family (`family_of(config)`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol


class Family(Protocol):
    """What the lab asks of a family. Configs are frozen and validated at construction; a
    problem raises engine.config.ConfigError with one line per problem."""

    FAMILY: str  # the registry key, and the stored config's "family" value

    def submitted(self, raw: dict, name: str | None, store: Any = None) -> Any:
        """The validated config of a submission (the store: for what it must check there)."""

    def config_from_stored(self, text: str) -> Any:
        """The config an experiment row holds (its to_json())."""

    def with_registered_metrics(self, cfg: Any, metrics: Sequence[dict]) -> Any:
        """cfg with the user's registered metrics (`moelab metric add`) added, where the
        family computes them; cfg unchanged otherwise."""

    def plan(self, cfg: Any, experiment_id: int = 0, unit_work: float | None = None,
             device: str | None = None, store: Any = None) -> list:
        """The experiment's work units (engine/plan.py's Unit), the same on every restart."""

    def runs_of(self, config_text: str, run_indices: Sequence[int], inputs: str = "") -> list:
        """A unit's runs, rebuilt on any worker from the unit alone."""

    def train(self, runs: list, device: str, progress: Callable | None = None,
              cancel: Callable | None = None) -> dict:
        """Train a unit's runs: the tables for Store.write_unit."""


MEMBERS = ("FAMILY", "submitted", "config_from_stored", "with_registered_metrics", "plan",
           "runs_of", "train")

_FAMILIES = {"toy": "moelab.engine.families.toy",
             "crosscoder": "moelab.engine.families.crosscoder",
             "lm": "moelab.engine.families.lm"}


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
