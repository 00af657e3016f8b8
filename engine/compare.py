"""Cell-by-cell comparison of phase diagrams: two experiments, or the seeds of one sweep point.

The last feature of each expert falls in one class (SPEC, second wave): ignored (norm below
tau_norm), monosemantic (also ‖(Ŵ_last·W_j)_{j≠last}‖ < tau_int) or superposition. Expert
numbers are arbitrary labels (any permutation of experts is the same model), so two cells
are compared with their experts matched: the permutation that agrees on the most classes,
then on the norms. Two cells match when every matched expert has the same class.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

CLASSES = ("ignored", "monosemantic", "superposition")
IGNORED, MONOSEMANTIC, SUPERPOSITION = range(3)
_BRUTE_FORCE_EXPERTS = 6  # up to 720 permutations; beyond, sorted pairing


def last_class(norm, monosemantic, tau_norm: float = 0.5) -> np.ndarray:
    """Class codes from stored norms and monosemantic flags (monosemantic implies the norm)."""
    norm = np.asarray(norm, dtype=np.float64)
    mono = np.asarray(monosemantic, dtype=bool)
    return np.where(norm < tau_norm, IGNORED, np.where(mono, MONOSEMANTIC, SUPERPOSITION))


@dataclass(frozen=True)
class Cell:
    """One cell's last feature, per expert: norms (E,) and class codes (E,)."""
    norms: tuple[float, ...]
    classes: tuple[int, ...]

    @classmethod
    def of(cls, norms: Iterable[float], classes: Iterable[int]) -> Cell:
        # a NULL norm is a run whose weights are not finite (NaN stored as NULL)
        return cls(tuple(float("nan") if v is None else float(v) for v in norms),
                   tuple(int(c) for c in classes))

    @property
    def finite(self) -> bool:
        """False for a run whose weights hold NaN or inf (it diverged): no class to compare."""
        return bool(np.isfinite(self.norms).all())


def match(a: Cell, b: Cell) -> tuple[bool, float]:
    """(same classes with experts matched, mean |Δ norm| over the matched experts)."""
    same, _, dnorm = match_experts(a, b)
    return same, dnorm


def match_experts(a: Cell, b: Cell) -> tuple[bool, float, float]:
    """(same classes with experts matched, the share of matched experts whose classes agree,
    mean |Δ norm| over the matched experts)."""
    if len(a.norms) != len(b.norms):
        raise ValueError(f"cells with {len(a.norms)} and {len(b.norms)} experts")
    E = len(a.norms)
    na, nb = np.asarray(a.norms), np.asarray(b.norms)
    ca, cb = np.asarray(a.classes), np.asarray(b.classes)
    if E <= _BRUTE_FORCE_EXPERTS:
        best = min(itertools.permutations(range(E)),
                   key=lambda p: (-(ca == cb[list(p)]).sum(), np.abs(na - nb[list(p)]).sum()))
        perm = list(best)
    else:  # classes first, then norms: sorted pairing
        oa = np.lexsort((na, ca))
        ob = np.lexsort((nb, cb))
        perm = np.empty(E, dtype=int)
        perm[oa] = ob
    agree = ca == cb[perm]
    return bool(agree.all()), float(agree.mean()), float(np.abs(na - nb[perm]).mean())


@dataclass(frozen=True)
class SetupComparison:
    setup: tuple  # (n_features, d_hidden, n_experts)
    cells: int  # cells both sides have
    matching: int  # of them, cells whose classes agree with experts matched
    mean_abs_dnorm: float  # mean over cells of the mean |Δ norm| of the last feature
    expert_share: float = float("nan")  # share of matched (cell, expert) pairs that agree
    left_out: int = 0  # common cells not compared: one side's weights are not finite

    @property
    def share(self) -> float:
        return self.matching / self.cells if self.cells else float("nan")


def compare(a: Mapping[tuple, Mapping[tuple, Cell]],
            b: Mapping[tuple, Mapping[tuple, Cell]]) -> list[SetupComparison]:
    """Per setup both sides have: setup -> {cell key (sparsity, last importance) -> Cell}.
    Only common cells count, and of them only those whose weights are finite on both sides
    (left_out counts the others); a setup without one is left out."""
    out = []
    for setup in sorted(set(a) & set(b)):
        both = sorted(set(a[setup]) & set(b[setup]))
        common = [c for c in both if a[setup][c].finite and b[setup][c].finite]
        if not common:
            continue
        results = [match_experts(a[setup][c], b[setup][c]) for c in common]
        out.append(SetupComparison(setup, len(common), sum(s for s, _, _ in results),
                                   float(np.mean([d for _, _, d in results])),
                                   float(np.mean([e for _, e, _ in results])),
                                   len(both) - len(common)))
    return out


def seed_stability(chosen: Cell, seeds: Iterable[Cell]) -> float:
    """Share of a sweep point's seeds whose classes match the chosen seed's (itself
    included), experts matched."""
    results = [match(chosen, s)[0] for s in seeds]
    return sum(results) / len(results) if results else float("nan")
