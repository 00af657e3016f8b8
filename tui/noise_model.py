"""The seed noise beside the Compare view's differences (issue 20), as pure data.

Runs grouped by config (all but the seed) give each group's final metrics as a mean with the
95% interval of that mean (Student's t over its seeds: the "± half-width" of the table). A
group reads as differing from the first group beyond seed noise when the two intervals do not
overlap, |mean_a - mean_b| > half_a + half_b; else within seed noise. Non-overlap is the rule
a reader can check by eye in the table; it is stricter than a t-test at p < 0.05 (for equal
spreads it is about p < 0.006), so "within" does not prove the groups are the same.
A group with one seed (one value of the metric) has no interval: no noise floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.markup import escape

from moelab.engine.noise_floor import BEYOND, WITHIN
from moelab.figures.data import mean_ci

from .compare_model import FINAL_METRICS, Group

ONE_SEED = "one seed: no noise floor"
HOW_TO = "queue with --set train.seeds=N or --control"
RULE = ("[b]seed noise[/b]: a group \"differs beyond seed noise\" from the first when the 95% "
        "intervals of their means (± in the table, Student's t over the seeds) do not overlap; "
        "else \"within seed noise\" (non-overlap is stricter than p < 0.05)")
ROW_LABEL = "  ↳ vs first group"
# Training time differs with the machine's load, not with the seed: no verdict for it.
NO_VERDICT = {"train_seconds"}


def interval(values: Iterable) -> tuple[float, float, int]:
    """(mean, half-width of its 95% interval, number of values) over the numeric values."""
    present = [v for v in values
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return mean_ci(present)


def verdict(a: tuple[float, float, int], b: tuple[float, float, int]) -> str:
    """Two groups' intervals (from `interval`): BEYOND, WITHIN, ONE_SEED (either has one
    value) or "∅" (either has none)."""
    (ma, ha, na), (mb, hb, nb) = a, b
    if not na or not nb:
        return "∅"
    if na < 2 or nb < 2:
        return ONE_SEED
    return BEYOND if abs(ma - mb) > ha + hb else WITHIN


def group_interval(group: Group, metric: str) -> tuple[float, float, int]:
    """A group's interval of one metric; runs repeating one seed count as one value (they
    are the same training, not seed noise)."""
    mean, half, n = interval(r.get(metric) for r in group.runs)
    if n > 1 and len({r.get("seed") for r in group.runs}) < 2:
        return mean, 0.0, 1
    return mean, half, n


def verdict_row(groups: list[Group], metric: str) -> list[str]:
    """One row under a metric's row: each group against the first ("—" for the first, or
    ONE_SEED when it has one value)."""
    ivs = [group_interval(g, metric) for g in groups]
    first = ivs[0]
    head = ONE_SEED if first[2] == 1 else "—"
    return [ROW_LABEL, head] + [verdict(first, iv) for iv in ivs[1:]]


def table_rows(groups: list[Group], rows: list[list[str]]) -> list[list[str]]:
    """The compare table's rows (compare_model.table_rows) with a verdict row under each
    final metric, when there are groups to compare."""
    if len(groups) < 2:
        return rows
    out = []
    for row in rows:
        out.append(row)
        if row[0] in FINAL_METRICS and row[0] not in NO_VERDICT:
            out.append(verdict_row(groups, row[0]))
    return out


def one_seed_groups(groups: list[Group]) -> list[Group]:
    """Groups with fewer than two distinct seeds: their spread says nothing of seed noise."""
    return [g for g in groups if len({r.get("seed") for r in g.runs}) < 2]


def control_notes(groups: list[Group], pairs: list[tuple[int, int]]) -> list[str]:
    """One line per (experiment, its seed control) pair among the marked runs: whether their
    runs group together (the same config but the seed), pooling both experiments' seeds."""
    notes = []
    for exp, ctrl in pairs:
        pooled = any({exp, ctrl} <= {r.get("experiment_id") for r in g.runs} for g in groups)
        how = ("same config, other seeds: their runs group together, so each group's "
               "spread pools both" if pooled else
               "but none of their marked runs share a config here (g groups them)")
        notes.append(f"experiment {ctrl} is the seed control of experiment {exp} ({how})")
    return notes


def panel_lines(groups: list[Group], grouped: bool, pairs: list[tuple[int, int]]) -> list[str]:
    """The lines (markup) of the view's seed-noise panel."""
    if not groups:
        return []
    if not grouped:
        return ["[dim]each run on its own: g groups runs by config to read the seed noise[/]",
                *control_notes(groups, pairs)]
    lines = [RULE] if len(groups) > 1 else [
        "[b]seed noise[/b]: one group, nothing to compare it with; its spread is the ± in "
        "the table (95% interval of the mean)"]
    single = one_seed_groups(groups)
    if single:
        names = ", ".join(escape(g.label) for g in single[:4]) + (" …" if len(single) > 4 else "")
        lines.append(f"[yellow]{names}: {ONE_SEED} ({HOW_TO})[/]")
    return lines + control_notes(groups, pairs)


def control_pairs(experiment_ids: Iterable[int], controls: dict[int, list[dict]]
                  ) -> list[tuple[int, int]]:
    """(experiment, control) pairs with both among the marked runs' experiments, from each
    experiment's `controls_of` read."""
    present = set(experiment_ids)
    return sorted((exp, int(c["experiment_id"])) for exp, cs in controls.items() for c in cs
                  if int(c["experiment_id"]) in present and exp in present)
