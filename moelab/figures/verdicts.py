"""Verdicts of REPORT.md as pure functions of plain numbers, so each is tested on constructed
inputs where it must agree and where it must differ.

Every verdict names its measure and threshold, uses every seed it is given (mean and 95 %
interval), and must not rest on one sample: it is recomputed with each sample left out in
turn, and a verdict that one left-out sample would flip is reported as "partly" with the
reason, never as a clean "agrees" or "differs".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .data import mean_ci

AGREES, PARTLY, DIFFERS = "agrees", "partly", "differs"


@dataclass(frozen=True)
class Verdict:
    word: str  # agrees | partly | differs
    detail: str  # the numbers behind it
    measure: str  # what was measured, and the threshold

    def text(self) -> str:
        return f"{self.word}: {self.detail} (measure: {self.measure})"


def pm(values: Sequence[float], nd: int = 3) -> str:
    """`mean ± half-width of the 95 % interval (n = …)`, or the value for one sample."""
    m, h, n = mean_ci(values)
    if n == 0:
        return "–"
    if n == 1:
        return f"{m:.{nd}g} (n = 1)"
    return f"{m:.{nd}g} ± {h:.2g} (n = {n})"


def robust(decide: Callable[[list[list]], object], groups: list[list],
           candidates: Callable[[list], list[int]] | None = None) -> tuple[object, bool]:
    """(decision on all samples, whether leaving any one sample out gives the same decision).
    groups: lists of samples (seeds, cells or experts); one is left out at a time from each
    group that keeps at least one. candidates(group) names the samples worth leaving out
    (default: one of each distinct value; `extremes` for decisions on means)."""
    full = decide(groups)
    pick = candidates or _distinct
    for g, group in enumerate(groups):
        if len(group) < 2:
            continue
        for i in pick(group):
            rest = [grp if j != g else group[:i] + group[i + 1:] for j, grp in enumerate(groups)]
            if decide(rest) != full:
                return full, False
    return full, True


def _distinct(group: list) -> list[int]:
    first: dict = {}
    for i, v in enumerate(group):
        first.setdefault(v, i)
    return list(first.values())


def extremes(group: list) -> list[int]:
    """The smallest and the largest sample: leaving one of them out moves a mean most."""
    order = sorted(range(len(group)), key=lambda i: group[i])
    return sorted({order[0], order[-1]})


def _word(ok: bool, stable: bool) -> str:
    return PARTLY if not stable else (AGREES if ok else DIFFERS)


def _unstable(stable: bool) -> str:
    return "" if stable else "; one left-out sample flips it, so only partly"


def _mean(v) -> float:
    v = [float(x) for x in v if x is not None and math.isfinite(float(x))]
    return sum(v) / len(v) if v else math.nan


# ------------------------------------------------------------------ fig1-2

def counts_comparable(dense: list[float], moes: dict[str, list[float]],
                      band: tuple[float, float] = (0.7, 1.3)) -> Verdict:
    """The paper: dense and MoE with equal parameters represent a comparable number of
    features (10 vs 8, ratio 0.8). Per seed, features represented (norm ≥ 0.5 in some
    expert); agrees when every MoE's mean over the dense mean lies in the band."""
    labels = list(moes)

    def ok(groups):
        d = _mean(groups[0])
        return all(band[0] <= _mean(g) / d <= band[1] for g in groups[1:])
    full, stable = robust(ok, [list(dense)] + [list(moes[k]) for k in labels])
    ratios = "; ".join(f"{k} {pm(moes[k])} (ratio {_mean(moes[k]) / _mean(dense):.2f})"
                       for k in labels)
    return Verdict(_word(full, stable), f"dense {pm(dense)}; {ratios}{_unstable(stable)}",
                   "features represented (norm ≥ 0.5 in some expert) per seed; comparable = "
                   f"MoE mean / dense mean in [{band[0]}, {band[1]}] (the paper's 8/10 = 0.8 "
                   "is inside)")


def more_than(base: list[float], others: dict[str, list[float]], what: str,
              base_label: str = "dense", per: str = "seed") -> Verdict:
    """Every `others` group has a larger mean than `base` (one value per seed, or per cell)."""
    labels = list(others)

    def ok(groups):
        b = _mean(groups[0])
        return all(_mean(g) > b for g in groups[1:])
    full, stable = robust(ok, [list(base)] + [list(others[k]) for k in labels])
    return Verdict(_word(full, stable), f"{base_label} {pm(base)}; " + "; ".join(
        f"{k} {pm(others[k])}" for k in labels) + _unstable(stable),
        f"{what}, one value per {per}; agrees when each mean exceeds the {base_label} mean")


def packing(capacity: dict[str, list[float]], em: dict[str, float],
            tolerance: float = 0.1) -> Verdict:
    """Efficient packing: capacity Σ_e Σ_i D ≈ E·m, mean over seeds within the tolerance."""
    labels = list(capacity)

    def ok(groups):
        return all(abs(_mean(g) - em[k]) <= tolerance * em[k]
                   for k, g in zip(labels, groups, strict=True))
    full, stable = robust(ok, [list(capacity[k]) for k in labels])
    return Verdict(_word(full, stable), "; ".join(
        f"{k} {pm(capacity[k])} vs E·m = {em[k]:g}" for k in labels) + _unstable(stable),
        f"capacity Σ_e Σ_i D_i^e per seed; agrees when each mean is within "
        f"{tolerance:.0%} of E·m")


# ------------------------------------------------------------------ fig4

def bluer(dense_x: dict[str, list[float]], moe_x: dict[str, list[float]]) -> Verdict:
    """MoE experts are bluer than the dense model: per setup, the mean colour coordinate x
    (superposition ÷ the panel's maximum, as drawn) over the cells where the last feature is
    represented (absolute norm ≥ 0.5) is lower in the MoE experts than in the dense model."""
    setups = [s for s in dense_x if s in moe_x and dense_x[s] and moe_x[s]]

    def ok_setup(groups):
        return _mean(groups[1]) < _mean(groups[0])
    results = [robust(ok_setup, [list(dense_x[s]), list(moe_x[s])], extremes) for s in setups]
    wins = sum(f for f, _ in results)
    stable = all(st for _, st in results)
    word = PARTLY if not stable or 0 < wins < len(setups) else (AGREES if wins else DIFFERS)
    return Verdict(word, "; ".join(f"setup {s}: dense {pm(dense_x[s], 2)}, MoE experts "
                                   f"{pm(moe_x[s], 2)}" for s in setups)
                   + f"; MoE bluer in {wins} of {len(setups)} setups" + _unstable(stable),
                   "mean colour coordinate x (superposition ÷ panel max: 0 blue, 1 red) over "
                   "cells where the last feature is represented (norm ≥ 0.5, absolute); "
                   "bluer = lower mean, in every setup")


def continuous(dense_norms: dict[str, list[float]], moe_norms: dict[str, list[float]],
               lo: float = 0.2, hi: float = 0.8) -> Verdict:
    """Dense models change phase discretely, MoE experts continuously: per setup, the share
    of cells whose last-feature norm is intermediate (lo ≤ norm < hi, absolute, so no single
    cell moves the threshold) is larger in the MoE experts than in the dense model."""
    setups = [s for s in dense_norms if s in moe_norms]

    def share(v):
        v = [x for x in v if x is not None and math.isfinite(x)]
        return sum(lo <= x < hi for x in v) / len(v) if v else math.nan

    def ok_setup(groups):
        return share(groups[1]) > share(groups[0])

    def inside_and_out(group):  # leaving out one of each kind moves the share most
        kinds: dict[bool, int] = {}
        for i, x in enumerate(group):
            kinds.setdefault(lo <= x < hi, i)
        return list(kinds.values())
    results = [robust(ok_setup, [list(dense_norms[s]), list(moe_norms[s])], inside_and_out)
               for s in setups]
    wins = sum(f for f, _ in results)
    stable = all(st for _, st in results)
    word = PARTLY if not stable or 0 < wins < len(setups) else (AGREES if wins else DIFFERS)
    return Verdict(word, "; ".join(
        f"setup {s}: dense {share(dense_norms[s]):.0%} of {len(dense_norms[s])} cells, MoE "
        f"experts {share(moe_norms[s]):.0%} of {len(moe_norms[s])}" for s in setups)
        + f"; more intermediate in the MoE in {wins} of {len(setups)} setups"
        + _unstable(stable),
        f"share of cells with an intermediate last-feature norm ({lo} ≤ norm < {hi}, "
        "absolute) per panel; continuous = a larger share in the MoE experts than in the "
        "dense model of the same setup")


# ------------------------------------------------------------------ fig6, table1

def share_at_least(hits: list[bool], what: str, agree: float = 0.9,
                   partly: float = 0.5) -> Verdict:
    """A share of cases; agrees at ≥ agree, partly at ≥ partly (leave-one-out checked)."""
    hits = [bool(h) for h in hits]
    if not hits:
        return Verdict(PARTLY, "no cases to measure", what)

    def share(g):
        return sum(g[0]) / len(g[0])
    s = share([hits])

    def level(g):
        v = share(g)
        return 2 if v >= agree else (1 if v >= partly else 0)
    lv, stable = robust(level, [hits])  # distinct values: one True and one False to leave out
    word = {2: AGREES, 1: PARTLY, 0: DIFFERS}[lv] if stable else PARTLY
    return Verdict(word, f"{sum(hits)} of {len(hits)} ({s:.0%}){_unstable(stable)}",
                   f"{what}; agrees at ≥ {agree:.0%}, partly at ≥ {partly:.0%}")


def near(hits: list[bool], paper: float, what: str, within: float = 0.1) -> Verdict:
    """A share that the paper reports as a number: agrees when ours is within `within` of
    it (leave-one-out checked)."""
    hits = [bool(h) for h in hits]
    if not hits:
        return Verdict(PARTLY, "no cases to measure", what)

    def close(g):
        return abs(sum(g[0]) / len(g[0]) - paper) <= within
    ok, stable = robust(close, [hits])
    return Verdict(_word(ok, stable), f"{sum(hits)} of {len(hits)} ({sum(hits) / len(hits):.0%}"
                   f"), paper {paper:.0%}{_unstable(stable)}",
                   f"{what}; agrees within {within * 100:.0f} points of the paper's share")


def stable_cells(unstable_share: dict[str, float], agree: float = 0.1,
                 partly: float = 0.5) -> Verdict:
    """Beyond the paper: a cell's class does not hang on its seed. Per setup, the share of
    cells where at most half of the seeds match the chosen seed's class."""
    worst = max(unstable_share.values()) if unstable_share else math.nan
    word = AGREES if worst <= agree else (PARTLY if worst <= partly else DIFFERS)
    return Verdict(word, "unstable cells per setup: " + "; ".join(
        f"{k} {v:.0%}" for k, v in unstable_share.items()),
        "seed stability per cell = share of its seeds (the chosen one included) whose "
        "last-feature classes match the chosen seed's, experts matched; a cell is unstable "
        f"at 50 % or less; agrees when every setup has ≤ {agree:.0%} unstable cells, partly at "
        f"≤ {partly:.0%}")


def rising(by_count: dict[int, list[float]], what: str, min_experts: int = 3) -> Verdict:
    """Usage rises with the number of monosemantic features: the means of the groups of at
    least min_experts experts increase from each count to the next."""
    counts = sorted(c for c, v in by_count.items()
                    if c > 0 and len([x for x in v if x is not None]) >= min_experts)
    if len(counts) < 2:
        return Verdict(PARTLY, f"fewer than two groups of ≥ {min_experts} experts", what)
    groups = [[x for x in by_count[c] if x is not None] for c in counts]

    def ok(gs):
        means = [_mean(g) for g in gs]
        return all(a < b for a, b in zip(means, means[1:], strict=False))
    full, stable = robust(ok, groups, extremes)
    return Verdict(_word(full, stable), ", ".join(
        f"{c} feature(s): {100 * _mean(g):.1f} % (n = {len(g)})"
        for c, g in zip(counts, groups, strict=True)) + _unstable(stable),
        f"{what}, mean per number of monosemantic features (groups of ≥ {min_experts} "
        "experts); agrees when it rises from each count to the next")


def fraction(v: Sequence[float]) -> float:
    return float(np.mean(v)) if len(v) else math.nan
