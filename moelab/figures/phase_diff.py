"""Two phase-diagram experiments cell by cell (`moelab compare`, `export figure phase-diff`):
per setup, the cells whose last-feature classes agree with experts matched, and how far the
last feature's norms are apart (engine.compare)."""

from __future__ import annotations

import numpy as np

from moelab.engine.compare import CLASSES, compare

from .cells import cells_of
from .data import FigureError, Source, require
from .phase import setup_letter


def setup_name(setup: tuple) -> str:
    n, m, E = setup
    return f"{n}{m}{E} ({setup_letter(n, m)}, E={E})"


def comparison(client, a: int, b: int):
    """(per-setup comparisons, cells of a, cells of b); a FigureError (one line) when an
    experiment is missing or the two share no cell."""
    for eid in (a, b):
        if client.read("experiment", experiment_id=int(eid)) is None:
            raise FigureError(f"no experiment with id {eid}")
    ca, cb = cells_of(client, a), cells_of(client, b)
    result = compare(ca, cb)
    require(bool(result), f"experiments {a} and {b} have no cells in common (the same "
            "setup n, m, E at the same sparsity and last importance); nothing to compare")
    return result, ca, cb


def report_lines(result, floors=None) -> list[str]:
    """The per-setup table; with floors (figures/noise.py), the agreement from seed noise
    alone and the verdict beside each setup, then where the floor comes from."""
    lines = [f"{'setup':<16} {'cells':>6} {'matching':>9} {'experts agreeing':>17} "
             f"{'mean |Δ norm|':>14}" + (f"  {'seed noise [95 %] of n':<24} verdict"
                                         if floors is not None and floors.by_setup else "")]
    for c in result:
        line = (f"{setup_name(c.setup):<16} {c.cells:>6} {c.share:>9.1%} "
                f"{c.expert_share:>17.1%} {c.mean_abs_dnorm:>14.3f}")
        if floors is not None and floors.by_setup:
            f = floors.by_setup.get(c.setup)
            line += (f"  {f.text():<24} {floors.verdict(c)}" if f is not None
                     else f"  {'—':<24} no seeds for this setup")
        lines.append(line)
    if floors is not None:
        lines.append(floors.note)
    return lines


def draw(source: Source):
    from .style import figure
    if source.against is None:
        raise FigureError("phase-diff compares two experiments: pass --against ID")
    result, ca, cb = comparison(source.client, source.experiment_id, source.against)
    from .noise import floors as noise_floors
    fl = noise_floors(source.client, source.experiment_id, source.against, ca)
    n_cols = min(3, len(result))
    n_rows = -(-len(result) // n_cols)
    fig, axes = figure(n_rows, n_cols, panel_height=2.0)
    for ax in axes.flat:
        ax.set_visible(False)
    for i, (ax, c) in enumerate(zip(axes.flat, result, strict=False)):
        _panel(ax, c, ca[c.setup], cb[c.setup], first=i % n_cols == 0, floors=fl)
    fig.suptitle(f"Where experiments {source.experiment_id} and {source.against} differ, on "
                 "the cells both have: grey = same last-feature classes (experts matched),\n"
                 "red = different (darker = larger mean |Δ norm| of the last feature)\n"
                 + _short_note(fl))
    fig.supxlabel("last feature importance")
    return fig


def _short_note(fl) -> str:
    if fl.control is not None:
        return f"seed noise: against control {fl.control} of the first (Wilson 95 %)"
    if fl.by_setup:
        return "seed noise: non-chosen seeds against the chosen one (Wilson 95 %)"
    return "no noise floor: one seed per point (queue with --set train.seeds=N)"


def _panel(ax, c, a: dict, b: dict, first: bool, floors=None) -> None:
    from moelab.engine.compare import match
    common = set(a) & set(b)
    S = sorted({k[0] for k in common})
    Imp = sorted({k[1] for k in common})
    rgb = np.ones((len(S), len(Imp), 3))  # white: a grid point one of them lacks
    ax.set_visible(True)
    for (s, i) in common:
        same, d = match(a[(s, i)], b[(s, i)])
        shade = 1.0 - min(d, 1.0) * 0.7
        rgb[S.index(s), Imp.index(i)] = (0.8, 0.8, 0.8) if same else (0.85, shade * 0.5,
                                                                      shade * 0.2)
    ax.imshow(rgb, origin="lower", aspect="auto", interpolation="nearest")
    title = f"{setup_name(c.setup)}\n{c.share:.0%} of {c.cells} cells match"
    f = None if floors is None else floors.by_setup.get(c.setup)
    if f is not None:
        lo, hi = f.interval
        title += f"\nnoise {f.share:.0%} [{lo:.0%}–{hi:.0%}]: {floors.verdict(c)}"
    ax.set_title(title)
    for set_ticks, set_labels, values in ((ax.set_xticks, ax.set_xticklabels, Imp),
                                          (ax.set_yticks, ax.set_yticklabels, S)):
        idx = np.unique(np.linspace(0, len(values) - 1, min(3, len(values))).round()
                        .astype(int))
        set_ticks(idx)
        set_labels([f"{values[j]:.2g}" for j in idx])
    ax.set_ylabel("feature sparsity S" if first else "")


__all__ = ["CLASSES", "cells_of", "comparison", "draw", "report_lines"]
