"""Training dynamics (issue 14): feature norms and superposition against step, per expert,
for one run per setup (--run, else the setup's chosen run of lowest loss), with each
feature's specialisation step marked where it is reached."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D

from .data import Source, by_setup, require, setup_label, varying_columns
from .style import figure

ROWS = (("norm", "feature norm ‖W_i‖"), ("superposition", "superposition Σ_j≠i (Ŵ_i·W_j)²"))


def pick(source: Source) -> list[tuple[tuple, dict]]:
    """(setup, run) of the runs to draw: --run, else the best chosen run per setup."""
    runs = source.client.read("dynamics_runs", experiment_id=source.experiment_id,
                              chosen_only=source.run_id is None)
    require(bool(runs), f"experiment {source.experiment_id} has no snapshots; train it with "
            "train.snapshots = N (e.g. --set train.snapshots=20)")
    if source.run_id is not None:
        runs = [r for r in runs if r["run_id"] == source.run_id]
        require(bool(runs), f"run {source.run_id} of experiment {source.experiment_id} has "
                "no snapshots")
    return [(key, min(rows, key=lambda r: (r["eval_loss"] is None, r["eval_loss"],
                                            r["run_id"])))
            for key, rows in by_setup(runs).items()]


def draw(source: Source):
    picked = pick(source)
    varying = varying_columns([r for _, r in picked])
    data = [source.client.read("dynamics_curves", run_id=run["run_id"]) for _, run in picked]
    experts = [sorted(set(d["curves"]["expert"])) for d in data]
    if source.expert is not None:
        experts = [[e for e in ex if e == source.expert] for ex in experts]
        require(any(experts), f"no drawn run has an expert {source.expert} (experts count "
                "from 0)")
    n_cols = max(len(ex) for ex in experts)
    fig, axes = figure(2 * len(picked), n_cols, width=min(7.0, 2.1 * n_cols + 0.8),
                       panel_height=1.5)
    for j in range(n_cols, axes.shape[1]):  # pragma: no cover - figure() sizes exactly
        axes[:, j].set_visible(False)
    for i, ((key, run), d, ex) in enumerate(zip(picked, data, experts, strict=True)):
        c = {k: np.asarray(v) for k, v in d["curves"].items()}
        n = int(c["feature"].max()) + 1
        colours = mpl.colormaps["viridis"](np.linspace(0, 0.9, n))
        spec = {s["feature"]: s for s in d["specialization"] if s["step"] is not None}
        for r, (metric, label) in enumerate(ROWS):
            row = axes[2 * i + r]
            for col in range(n_cols):
                ax = row[col]
                if col >= len(ex):
                    ax.set_visible(False)
                    continue
                e = ex[col]
                for f in range(n):
                    sel = (c["expert"] == e) & (c["feature"] == f)
                    steps, vals = c["step"][sel], c[metric][sel].astype(float)
                    ax.plot(steps, vals, color=colours[f], linewidth=0.8)
                    s = spec.get(f)
                    if s is not None and s["expert"] == e:
                        at = steps == s["step"]
                        ax.plot(steps[at], vals[at], "o", color=colours[f], markersize=3.5,
                                markeredgecolor="black", markeredgewidth=0.5)
                ax.set_xscale("symlog", linthresh=1)
                ax.set_xlim(left=0)
                if r == 1:
                    ax.set_xlabel("training step")
                if col == 0:
                    ax.set_ylabel(label)
                if r == 0:
                    ax.set_title(f"{setup_label(key, varying)}, run {run['run_id']}: "
                                 f"expert {e}")
    handles = [Line2D([], [], color=mpl.colormaps["viridis"](0.0), label="feature 0"),
               Line2D([], [], color=mpl.colormaps["viridis"](0.9), label="last feature"),
               Line2D([], [], marker="o", linestyle="", color="grey", markeredgecolor="black",
                      markersize=4, label="specialisation step (monosemantic from here on)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle(f"Training dynamics — {source.title}\nsnapshots at log-spaced steps; one run "
                 "per setup (its chosen run of lowest loss unless --run)")
    return fig
