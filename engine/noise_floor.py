"""The agreement two phase diagrams would show from seed noise alone (issue 20).

Beside each setup's agreement between two experiments, `moelab compare`, the phase-diff
figure and the Compare view give the agreement of reseeded copies of the same config:

- from the experiments' own seeds: per sweep point, how often a non-chosen seed's last-feature
  classes match the chosen seed's (experts matched, engine/compare.py's rule and the
  seed_stability view's), pooled over the points of a setup: `from_seeds`;
- from a control (the same config queued again with other seeds, `--control`): the share of
  cells where the experiment and its control match, as `compare` counts them: `from_control`.

The interval is Wilson's 95 % score interval over the pooled comparisons. Seeds of one point
share the chosen seed, so they are not independent draws and the interval is somewhat too
narrow where points are few; the control's cells are independent trainings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Z95 = 1.959964  # two-sided 95 % normal quantile
BEYOND, WITHIN = "differs beyond seed noise", "within seed noise"
HOW_TO_GET_ONE = ("queue with `--set train.seeds=N` (N >= 2), or a reseeded copy with "
                  "`moelab queue --control ID`")


def wilson(matching: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a share matching / n; (nan, nan) when n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = matching / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class NoiseFloor:
    """Agreement from seed noise alone for one setup: `matching` of `n` comparisons."""
    n: int  # pooled seed comparisons (from_seeds) or cells (from_control)
    matching: int
    source: str  # "seeds" or "control"

    @property
    def share(self) -> float:
        return self.matching / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.matching, self.n)

    def text(self) -> str:
        lo, hi = self.interval
        return f"{self.share:.0%} [{lo:.0%}–{hi:.0%}] of {self.n}"


def from_seeds(stability_rows: Iterable[Mapping]) -> dict[tuple, NoiseFloor]:
    """setup (n, m, E) -> the pooled non-chosen seeds, from rows of the `seed_stability`
    read (n_seeds and n_matching count the chosen seed, which matches itself). Setups whose
    points all have one seed are left out: they give no floor."""
    pooled: dict[tuple, list[int]] = {}
    for r in stability_rows:
        others = int(r["n_seeds"]) - 1
        if others <= 0:
            continue
        setup = (int(r["n_features"]), int(r["d_hidden"]), int(r["n_experts"]))
        acc = pooled.setdefault(setup, [0, 0])
        acc[0] += others
        acc[1] += int(r["n_matching"]) - 1
    return {s: NoiseFloor(n, k, "seeds") for s, (n, k) in pooled.items()}


def merge(*floors: Mapping[tuple, NoiseFloor]) -> dict[tuple, NoiseFloor]:
    """Pool the seed floors of several experiments setup by setup."""
    out: dict[tuple, NoiseFloor] = {}
    for floor in floors:
        for setup, f in floor.items():
            old = out.get(setup)
            out[setup] = f if old is None else NoiseFloor(old.n + f.n, old.matching + f.matching,
                                                          old.source)
    return out


def from_control(comparisons: Iterable) -> dict[tuple, NoiseFloor]:
    """setup -> the cells an experiment and its control both have, and how many match
    (engine.compare.SetupComparison rows)."""
    return {c.setup: NoiseFloor(c.cells, c.matching, "control") for c in comparisons
            if c.cells}


def verdict(share: float, floor: NoiseFloor | None) -> str | None:
    """"differs beyond seed noise" when the agreement is below the floor's 95 % interval,
    else "within seed noise"; None without a floor."""
    if floor is None or not floor.n:
        return None
    return BEYOND if share < floor.interval[0] else WITHIN
