"""Per-expert pictures of one run per setup: Gram matrices and feature-norm bars
(the paper's Figures 1-2, and Figure 5 for router inits)."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .data import Source, by_setup, require, setup_label, varying_columns
from .style import GRAM_CMAP, MONOSEMANTIC, SUPERPOSITION, figure


def pick_runs(source: Source) -> list[tuple[tuple, dict, list[dict]]]:
    """(setup, run, feature rows) for --run, else per setup its chosen run of lowest
    evaluation loss."""
    rows = source.rows("figure_features")
    require(bool(rows), f"experiment {source.experiment_id} has no stored runs yet "
            f"(status {source.experiment.get('status')})")
    runs = {r["run_id"]: r for r in source.rows("figure_runs")}
    if source.run_id is not None:
        require(source.run_id in runs, f"run {source.run_id} is not a chosen run of "
                f"experiment {source.experiment_id}")
        rows = [r for r in rows if r["run_id"] == source.run_id]
    picked = []
    for key, srows in by_setup(rows).items():
        ids = {r["run_id"] for r in srows}
        best = min(ids, key=lambda i: (runs[i]["eval_loss"] is None, runs[i]["eval_loss"], i))
        feats = [r for r in srows if r["run_id"] == best]
        if source.expert is not None:
            feats = [r for r in feats if r["expert"] == source.expert]
        if feats:
            picked.append((key, runs[best], feats))
    require(bool(picked), f"no run of experiment {source.experiment_id} has an expert "
            f"{source.expert} (experts count from 0)")
    return picked


def _experts(feats: list[dict]) -> list[int]:
    return sorted({r["expert"] for r in feats})


def _row_title(key: tuple, run: dict, varying: set[str]) -> str:
    return f"{setup_label(key, varying)} (run {run['run_id']}, S={run['sparsity']:g})"


def draw_gram(source: Source):
    picked = pick_runs(source)
    varying = varying_columns([r for _, _, f in picked for r in f])
    weights = source.client.read("figure_weights", run_ids=[run["run_id"] for _, run, _ in picked])
    W = {(rid, e): np.asarray(w, dtype=float).reshape(m, n) for rid, e, n, m, w in zip(
        weights["run_id"], weights["expert"], weights["n_features"], weights["d_hidden"],
        weights["W"], strict=True)}
    grams = [[(e, W[(run["run_id"], e)].T @ W[(run["run_id"], e)]) for e in _experts(f)]
             for _, run, f in picked]
    top = max(np.abs(g).max() for row in grams for _, g in row) or 1.0
    n_cols = max(len(row) for row in grams)
    fig, axes = figure(len(picked), n_cols, width=min(7.0, 2.0 * n_cols + 0.6),
                       panel_height=2.0)
    image = None
    for r, ((key, run, _), row) in enumerate(zip(picked, grams, strict=True)):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.set_visible(False)
                continue
            e, g = row[c]
            image = ax.imshow(g, cmap=GRAM_CMAP, vmin=-top, vmax=top, interpolation="nearest")
            ax.set_title(f"{_row_title(key, run, varying)}\nexpert {e}" if c == 0
                         else f"expert {e}")
            ax.set_xlabel("feature j")
            ax.set_ylabel("feature i" if c == 0 else "")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8,
                 label="Gram entry $W_i^{e}\\cdot W_j^{e}$")
    fig.suptitle(f"Gram matrices $W_e^T W_e$ per expert — {source.title}")
    return fig


def draw_feature_norms(source: Source):
    picked = pick_runs(source)
    varying = varying_columns([r for _, _, f in picked for r in f])
    n_cols = max(len(_experts(f)) for _, _, f in picked)
    fig, axes = figure(len(picked), n_cols, width=min(7.0, 2.3 * n_cols + 0.4),
                       panel_height=1.5, sharey=True)
    any_occupied, drawn = False, set()
    for r, (key, run, feats) in enumerate(picked):
        experts = _experts(feats)
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(experts):
                ax.set_visible(False)
                continue
            fe = sorted((f for f in feats if f["expert"] == experts[c]),
                        key=lambda f: f["feature"])
            colours = [MONOSEMANTIC if f["monosemantic"] else SUPERPOSITION for f in fe]
            drawn |= set(colours)
            ax.bar([f["feature"] for f in fe], [f["norm"] for f in fe], color=colours,
                   width=0.8)
            if run["n_experts"] > 1:
                occ = [f["feature"] for f in fe if f["occupied"]]
                any_occupied |= bool(occ)
                ax.plot(occ, [-0.06] * len(occ), "^", color="black", markersize=2.5,
                        clip_on=False)
            ax.set_title(f"{_row_title(key, run, varying)}\nexpert {experts[c]}" if c == 0
                         else f"expert {experts[c]}")
            ax.set_xlabel("feature i")
            ax.set_ylabel("‖$W_i$‖" if c == 0 else "")
            ax.set_ylim(bottom=-0.1)
    # the key lists only what is drawn, so a colour in the file means a bar of that kind
    handles = [Patch(color=c, label=label) for c, label in (
        (MONOSEMANTIC, "monosemantic"), (SUPERPOSITION, "not monosemantic (superposition)"))
        if c in drawn]
    if any_occupied:
        handles.append(Line2D([], [], marker="^", color="black", linestyle="",
                              markersize=3, label="occupied: one-hot $e_i$ routes here"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
               frameon=False)
    fig.suptitle(f"Feature norms per expert — {source.title}\nmonosemantic: norm ≥ 0.5 and "
                 "‖interference‖ < 0.2")
    return fig
