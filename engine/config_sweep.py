"""The [sweep] section: grid axes and zipped variants, read from their TOML forms."""

from __future__ import annotations

from dataclasses import dataclass

from .config_checks import _freeze
from .config_sections import SECTIONS, _key_problems


@dataclass(frozen=True)
class SweepConfig:
    # "section.field" -> values; the grid is the product of every axis.
    axes: tuple = ()  # tuple of (key, tuple(values))
    # Each variant is a tuple of (key, value) overrides applied before the grid (zipped axes,
    # e.g. dense m=6 vs MoE E=2 m=3 in one experiment).
    variants: tuple = ()

    def problems(self) -> list[str]:
        p = []
        for key, values in self.axes:
            p += _key_problems(f"sweep axis {key}", key)
            if len(values) == 0:
                p.append(f"sweep axis {key} has no values")
        for variant in self.variants:
            for key, _ in variant:
                p += _key_problems(f"sweep variant field {key}", key)
        return p


def _sweep_from(table: dict) -> tuple[SweepConfig, list[str]]:
    """A raw [sweep] table (flat "section.field" axes, nested [sweep.data] tables,
    variants) as a SweepConfig, with the problems found reading it."""
    problems = []
    axes = []
    variants = ()
    for key, values in table.items():
        if key == "variants":
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                problems.append("sweep.variants must be a list of tables of overrides")
                continue
            variants = tuple(
                tuple(sorted((_flat_key(k, v)) for k, v in _flatten(var).items()))
                for var in values)
            continue
        if "." not in key and isinstance(values, dict):
            # [sweep.data] sparsity = [...] nested form
            for sub, vals in values.items():
                axes.append((f"{key}.{sub}", vals))
            continue
        axes.append((key, values))
    frozen_axes = []
    for key, values in axes:
        if not isinstance(values, list):
            problems.append(f"sweep axis {key} must be a list of values")
            continue
        problems += _key_problems(f"sweep axis {key}", key)
        frozen_axes.append((key, tuple(_freeze(v) for v in values)))
    return SweepConfig(axes=tuple(frozen_axes), variants=variants), problems


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k in SECTIONS:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _flat_key(k, v):
    return (k, _freeze(v))
