"""Comparing runs, as pure data: which config fields differ, groups of runs that differ only
by seed, and their mean with a 95% band (Student's t) for curves and final metrics."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from moelab.figures.data import mean_ci

# Final numbers of a run shown side by side (columns of the runs view).
FINAL_METRICS = ("eval_loss", "final_loss", "fpd", "capacity", "lens_top1_cosine",
                 "train_seconds")
# Identity and bookkeeping, never "a config field that differs".
_NOT_CONFIG = {"train.seed", "train.device"}


def flat_config(config: dict) -> dict[str, str]:
    """section.field -> its value as compact JSON text (comparable, printable)."""
    out = {}
    for section, fields in (config or {}).items():
        if isinstance(fields, dict):
            for k, v in fields.items():
                out[f"{section}.{k}"] = json.dumps(v, sort_keys=True, separators=(",", ":"))
    return out


def differing(runs: list[dict]) -> list[str]:
    """The config fields (and seed) whose values are not the same in every run."""
    flats = [flat_config(r.get("config", {})) for r in runs]
    keys = sorted({k for f in flats for k in f} - _NOT_CONFIG)
    out = [k for k in keys if len({f.get(k) for f in flats}) > 1]
    if len({r.get("seed") for r in runs}) > 1:
        out.append("seed")
    return out


def group_key(run: dict) -> str:
    flat = flat_config(run.get("config", {}))
    return json.dumps({k: v for k, v in flat.items() if k not in _NOT_CONFIG}, sort_keys=True)


@dataclass
class Group:
    label: str
    runs: list[dict] = field(default_factory=list)

    @property
    def run_ids(self) -> list[int]:
        return [r["run_id"] for r in self.runs]


def label_of(run: dict, keys: list[str]) -> str:
    flat = flat_config(run.get("config", {}))
    parts = [f"{k.split('.', 1)[1]}={flat.get(k, '∅')}" for k in keys if k != "seed"]
    return " ".join(parts) or "same config"


def make_groups(runs: list[dict], by_config: bool) -> list[Group]:
    """One group per run, or per config except seed (in the order runs first appear)."""
    keys = [k for k in differing(runs) if k != "seed"]
    if not by_config:
        return [Group(f"run {r['run_id']}" + (f" {label_of(r, keys)}" if keys else ""), [r])
                for r in runs]
    groups: dict[str, Group] = {}
    for r in runs:
        g = groups.setdefault(group_key(r), Group(label_of(r, keys)))
        g.runs.append(r)
    for g in groups.values():
        g.label += f" ({group_size(g.runs)})"
    return list(groups.values())


def group_size(runs: list[dict]) -> str:
    """'3 seeds' (or '2 runs' when seeds repeat): never 'n=', which in this field is
    n_features."""
    n = len(runs)
    if n > 1 and len({r.get("seed") for r in runs}) == n:
        return f"{n} seeds"
    return f"{n} run{'s' if n != 1 else ''}"


def curve_band(curves: list[list]) -> tuple[list, list, list, list]:
    """Mean and 95% band per step over the runs' curves ([[step, value], …] each):
    (steps, mean, low, high); a step missing from a run is skipped for it."""
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for step, value in curve:
            if value is not None and math.isfinite(value):
                by_step.setdefault(step, []).append(value)
    steps, mean, lo, hi = [], [], [], []
    for step in sorted(by_step):
        m, half, _ = mean_ci(by_step[step])
        steps.append(step)
        mean.append(m)
        lo.append(m - half)
        hi.append(m + half)
    return steps, mean, lo, hi


def data_range(curves: list[list]) -> tuple[float, float] | None:
    """The lowest and highest finite value of these curves ([[step, value], …] each)."""
    values = [v for curve in curves for _, v in curve
              if isinstance(v, (int, float)) and math.isfinite(v)]
    return (min(values), max(values)) if values else None


def clip_band(lo: list, hi: list, bounds: tuple[float, float] | None
              ) -> tuple[list, list, bool]:
    """A band cut at the data's range (bounds), and whether any of it was: a 95% band from
    two seeds (t = 12.7) reaches far beyond any value measured, below zero for a loss,
    and would set the plot's axis."""
    if bounds is None:
        return lo, hi, False
    low, high = bounds
    clipped = any(v < low for v in lo) or any(v > high for v in hi)
    return [max(v, low) for v in lo], [min(v, high) for v in hi], clipped


def final_cell(values: list) -> str:
    """One run's value, or a group's mean ± half-width of its 95% interval."""
    present = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not present:
        return "∅"
    if len(values) == 1:
        return f"{present[0]:.4g}"
    m, half, n = mean_ci(present)
    return f"{m:.4g} ± {half:.2g}"


def table_rows(groups: list[Group], keys: list[str]) -> list[list[str]]:
    """Rows: the differing config fields, then the final metrics; one column per group."""
    rows = []
    for k in keys:
        if k == "seed":
            cells = [", ".join(str(r.get("seed")) for r in g.runs) for g in groups]
        else:
            cells = [", ".join(sorted({flat_config(r.get("config", {})).get(k, "∅")
                                       for r in g.runs})) for g in groups]
        rows.append([k] + cells)
    for metric in FINAL_METRICS:
        cells = [final_cell([r.get(metric) for r in g.runs]) for g in groups]
        if any(c != "∅" for c in cells):
            rows.append([metric] + cells)
    return rows
