"""Phase diagrams (the paper's Figure 4): one panel per expert, laid out as 4.X.e/E.

Each cell is a chosen run of the sparsity × last-importance grid; its colour comes from the
last feature's norm y and superposition x in that expert, each divided by its maximum over
the grid of that expert (so white really means "not represented").
"""

from __future__ import annotations

import numpy as np

from . import phase_layers as layers
from .data import Source, as_rows, group, require, seeds_note
from .style import MISSING, figure, phase_rgb

# The paper's setups: (n_features, d_hidden) -> letter (engine.presets.FIG4_SETUPS).
SETUP_LETTERS = {(2, 1): "A", (3, 1): "B", (3, 2): "C"}
UNSTABLE = 0.5  # a cell where at most this share of its seeds match the chosen one is marked
METRICS = {"superposition_all": "Σ over all j incl. i (the authors' phase plots)",
           "superposition": "Σ over j ≠ i (Elhage)"}


def setup_letter(n_features: int, d_hidden: int) -> str:
    return SETUP_LETTERS.get((n_features, d_hidden), f"n{n_features}m{d_hidden}")


def phase_panels(source: Source, metric: str, rows: list[dict] | None = None) -> list[dict]:
    """Per (setup, expert): the grid axes and the scaled colour inputs (and "value", a
    continuous colouring's, NaN where rows have none). Shared with the report. rows: the
    last features to draw (default: the final weights')."""
    require(metric in METRICS, f"--metric for a phase diagram is one of {', '.join(METRICS)}, "
            f"not {metric!r}")
    if rows is None:
        rows = source.rows("figure_features", last_only=True)
    require(bool(rows), f"experiment {source.experiment_id} has no stored runs yet "
            f"(status {source.experiment.get('status')})")
    setups = group(rows, lambda r: (r["n_features"], r["d_hidden"], r["n_experts"]))
    swept = {k: (sorted({r["sparsity"] for r in v}), sorted({r["last_importance"] for r in v}))
             for k, v in setups.items()}
    require(any(len(s) > 1 and len(i) > 1 for s, i in swept.values()),
            f"experiment {source.experiment_id} is not a sparsity × last-importance sweep; "
            "a phase diagram needs one (e.g. `moelab run fig4 --quick`)")
    panels = []
    for (n, m, E), cells in sorted(setups.items()):
        sparsities, importances = swept[(n, m, E)]
        if len(sparsities) < 2 or len(importances) < 2:
            continue
        si = {s: j for j, s in enumerate(sparsities)}
        ii = {v: j for j, v in enumerate(importances)}
        for e, ecells in sorted(group(cells, lambda r: r["expert"]).items()):
            norm = np.full((len(sparsities), len(importances)), np.nan)
            sp, value = norm.copy(), norm.copy()
            mono = np.zeros(norm.shape, dtype=bool)
            for c in ecells:
                at = (si[c["sparsity"]], ii[c["last_importance"]])
                norm[at], sp[at] = c["norm"], c[metric]
                value[at] = np.nan if c.get("value") is None else c["value"]
                mono[at] = bool(c["monosemantic"])
            panels.append({"n_features": n, "d_hidden": m, "n_experts": E, "expert": e,
                           "label": f"4.{setup_letter(n, m)} expert {e} of {E}",
                           "sparsity": sparsities, "last_importance": importances,
                           "norm": norm, "superposition": sp, "monosemantic": mono,
                           "y": _scaled(norm), "x": _scaled(sp), "value": value})
    return panels


def _scaled(values: np.ndarray) -> np.ndarray:
    top = np.nanmax(values) if np.isfinite(values).any() else 0.0
    return np.clip(values / top, 0, 1) if top > 0 else np.zeros_like(values)


def draw(source: Source):
    metric = source.metric or "superposition_all"
    label = layers.colour_label(source)  # None: the paper colour
    rows, weights = layers.last_feature_rows(source)
    panels = phase_panels(source, metric, rows)
    if source.expert is not None:
        panels = [p for p in panels if p["expert"] == source.expert]
        require(bool(panels), f"no setup of experiment {source.experiment_id} has an expert "
                f"{source.expert} (experts count from 0)")
    rows = group(panels, lambda p: (p["n_features"], p["d_hidden"]))
    n_cols = max(len(v) for v in rows.values()) + 1  # + the colour key
    fig, axes = figure(len(rows), n_cols, panel_height=1.25)
    for ax in axes.flat:
        ax.set_visible(False)
    unstable = _unstable_cells(source) if source.stability else {}
    lo, hi = layers.value_range(panels)
    for r, ps in enumerate(rows.values()):
        for c, p in enumerate(ps):
            rgb = None if label is None else layers.value_rgb(p, lo, hi, _hex_rgb(MISSING))
            _panel(axes[r, c], p, first=c == 0, rgb=rgb)
            _mark(axes[r, c], p, unstable.get((p["n_features"], p["d_hidden"],
                                               p["n_experts"]), set()))
    if label is None:
        _key(axes[0, n_cols - 1], metric)
        colour = (f"Colour: norm y and superposition x\n({metric}: {METRICS[metric]}), each "
                  "÷ its max over the grid of that expert")
    else:
        layers.value_key(fig, axes[0, n_cols - 1], lo, hi, label)
        colour = f"Colour: {label}, one scale for every panel (grey: no value)"
    fig.supxlabel("last feature importance (relative to the others, which are 1)")
    note = seeds_note(source, source.rows("figure_runs"), lambda r: r["point"])
    if source.stability:
        n_bad = sum(len(v) for v in unstable.values())
        note += (f"\n× = unstable point ({n_bad} of them): at most {UNSTABLE:.0%} of its seeds "
                 "end in the chosen seed's last-feature classes (final weights)")
    title = source.title if len(source.title) <= 60 else source.title[:59] + "…"  # an import
    fig.suptitle(f"Phase diagrams of the last feature — {title}, {weights}; {note}\n"
                 "4.X expert e of E = setup X, expert e (numbered from 0, as stored). "
                 f"{colour}")
    return fig


def _unstable_cells(source: Source) -> dict[tuple, set]:
    """(n, m, E) -> the (sparsity, last importance) cells whose seeds mostly disagree with
    the chosen seed's last-feature class (seed stability ≤ UNSTABLE); empty for one seed."""
    out: dict[tuple, set] = {}
    rows = as_rows(source.client.read("seed_stability", experiment_id=source.experiment_id))
    for r in rows:
        if r["n_seeds"] > 1 and r["stability"] <= UNSTABLE:
            out.setdefault((r["n_features"], r["d_hidden"], r["n_experts"]), set()).add(
                (r["sparsity"], r["last_importance"]))
    return out


def _mark(ax, p: dict, cells: set) -> None:
    pts = [(p["last_importance"].index(i), p["sparsity"].index(s)) for s, i in cells
           if s in p["sparsity"] and i in p["last_importance"]]
    if pts:
        xs, ys = zip(*pts, strict=True)
        ax.scatter(xs, ys, s=4, c="black", marker="x", linewidths=0.5)


def _panel(ax, p: dict, first: bool, rgb: np.ndarray | None = None) -> None:
    ax.set_visible(True)
    if rgb is None:
        rgb = phase_rgb(np.nan_to_num(p["x"]), np.nan_to_num(p["y"]))
        rgb[np.isnan(p["norm"])] = _hex_rgb(MISSING)
    ax.imshow(rgb, origin="lower", aspect="auto", interpolation="nearest")
    ax.set_title(p["label"])
    _ticks(ax.set_xticks, ax.set_xticklabels, p["last_importance"])
    _ticks(ax.set_yticks, ax.set_yticklabels, p["sparsity"])
    ax.set_ylabel("feature sparsity S" if first else "")


def _ticks(set_ticks, set_labels, values: list[float], most: int = 3) -> None:
    idx = np.unique(np.linspace(0, len(values) - 1, min(most, len(values))).round().astype(int))
    set_ticks(idx)
    set_labels([f"{values[i]:.2g}" for i in idx])


def _key(ax, metric: str) -> None:
    ax.set_visible(True)
    x, y = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32))
    ax.imshow(phase_rgb(x, y), origin="lower", extent=(0, 1, 0, 1), aspect="equal")
    ax.set_xlabel("superposition x")
    ax.set_ylabel("norm y")
    ax.set_title("white: ignored\nblue: monosemantic\nred: superposition")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])


def _hex_rgb(colour: str) -> list[float]:
    return [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
