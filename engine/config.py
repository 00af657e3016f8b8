"""Frozen, validated experiment configs: [model] [data] [train] [sweep].

Every problem in a config is collected and reported at once (ConfigError), in plain words,
so a user fixes a TOML file in one pass instead of one error per run.

This module is the one to import from; the pieces live beside it:
  config_checks.py    ConfigError, the overflow limits, the shared problem checks
  config_sections.py  ModelConfig, DataConfig, TrainConfig and the section.field names
  config_sweep.py     SweepConfig: grid axes and zipped variants
  config_parse.py     TOML files and --set/--sweep text to a raw dict
Here: Config, the whole experiment, and from_dict, which builds one from a raw dict.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .config_checks import MAX_LR, MAX_MAGNITUDE, ConfigError, _freeze, _plain
from .config_parse import load_toml, parse_assignment, parse_value, with_overrides
from .config_sections import (
    BIAS_INITS,
    DEVICES,
    EXPERT_INITS,
    FIELD_NAMES,
    GATINGS,
    KINDS,
    REDUCTIONS,
    ROUTER_INITS,
    SECTIONS,
    SELECTS,
    SNAPSHOT_SPACINGS,
    TIE_BREAKS,
    DataConfig,
    ModelConfig,
    TrainConfig,
    _unknown_field,
)
from .config_sweep import SweepConfig, _sweep_from

__all__ = [
    "BIAS_INITS", "DEVICES", "EXPERT_INITS", "FIELD_NAMES", "GATINGS", "KINDS", "MAX_LR",
    "MAX_MAGNITUDE", "REDUCTIONS", "ROUTER_INITS", "SECTIONS", "SELECTS", "SNAPSHOT_SPACINGS",
    "TIE_BREAKS", "Config", "ConfigError", "DataConfig", "ModelConfig", "SweepConfig",
    "TrainConfig", "from_dict", "load_toml", "parse_assignment", "parse_value", "with_overrides",
]


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    name: str = "experiment"

    def problems(self) -> list[str]:
        return self.section_problems() + self.sweep.problems()

    def section_problems(self) -> list[str]:
        """The [model] [data] [train] problems alone (a sweep point's: its sweep is the
        experiment's, checked once)."""
        return (self.model.problems() + self.data.problems(self.model.n_features)
                + self.train.problems())

    def validated(self) -> Config:
        problems = self.problems()
        if problems and self.sweep.variants and not self.sweep.problems():
            # With variants the base alone never trains: a field they set again is checked
            # with their values (k = 2 is fine when every variant sets n_experts or k).
            problems = self._variant_problems()
        if problems:
            raise ConfigError(problems)
        return self

    def _variant_problems(self) -> list[str]:
        from .sweep import apply_overrides  # (sweep imports this module)
        out: list[str] = []
        for variant in self.sweep.variants:
            out += [p for p in apply_overrides(self, variant).section_problems()
                    if p not in out]
        return out

    def to_dict(self) -> dict:
        d = {s: _plain(dataclasses.asdict(getattr(self, s))) for s in SECTIONS}
        d["sweep"] = {
            "axes": {k: list(v) for k, v in self.sweep.axes},
            "variants": [dict(v) for v in self.sweep.variants],
        }
        d["name"] = self.name
        return d

    def to_json(self) -> str:
        # Unsorted: the order of sweep axes is the order of the runs, so a stored config
        # rebuilt later (the service's queue) must keep it.
        return json.dumps(self.to_dict(), default=_plain)


def from_dict(raw: dict, name: str = "experiment") -> Config:
    """Build a validated Config from a TOML-shaped dict; every problem is reported at once."""
    problems: list[str] = []
    sections: dict[str, dict] = {}
    for section, table in raw.items():
        if section == "name":
            name = str(table)
            continue
        if section not in (*SECTIONS, "sweep"):
            problems.append(f"unknown section [{section}]; sections are [model] [data] "
                            "[train] [sweep]")
            continue
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        sections[section] = table
    kwargs = {}
    for section in SECTIONS:
        table = sections.get(section, {})
        known = {}
        for key, value in table.items():
            if key not in FIELD_NAMES[section]:
                problems.append(_unknown_field(section, key))
            else:
                known[key] = _freeze(value)
        kwargs[section] = known
    sweep, sweep_problems = _sweep_from(sections.get("sweep", {}))
    problems += sweep_problems
    if problems:
        raise ConfigError(problems)
    try:
        cfg = Config(
            model=ModelConfig(**kwargs["model"]),
            data=DataConfig(**kwargs["data"]),
            train=TrainConfig(**kwargs["train"]),
            sweep=sweep,
            name=name,
        )
    except TypeError as e:  # pragma: no cover - guarded by the field check above
        raise ConfigError([str(e)]) from None
    return cfg.validated()
