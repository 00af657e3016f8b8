"""MoE Lens on toy MoEs (issue 14): routing concentration, how much the top-weighted expert
alone carries, and what removing an expert costs, per MoE setup, against 1/(1−S) when the
experiment sweeps sparsity (fig3), else one point per setup."""

from __future__ import annotations

import math

from matplotlib.ticker import FuncFormatter

from .data import Source, as_rows, by_setup, group, mean_ci, require, setup_label, varying_columns
from .style import PALETTE, figure

PANELS = (("top_share", "share of routing weight\nof the most used expert", None),
          ("top1_cosine", "cosine(top-1 output,\nfull output)", 1.0),
          ("top1_loss_ratio", "loss with the top-1 expert\nonly / full loss", 1.0),
          ("max_ablation_ratio", "loss with the most needed\nexpert removed / full loss", 1.0))


def draw(source: Source):
    rows = as_rows(source.client.read("lens_runs", experiment_id=source.experiment_id))
    require(bool(rows), f"experiment {source.experiment_id} has no MoE Lens numbers (they are "
            "stored for MoE runs trained since schema 5)")
    setups = by_setup(rows)
    sweep = any(len({r["sparsity"] for r in v}) > 1 for v in setups.values())
    varying = varying_columns(rows)
    fig, axes = figure(1, len(PANELS), panel_height=2.0)
    for p, (column, label, ref) in enumerate(PANELS):
        ax = axes[0, p]
        for i, (key, srows) in enumerate(setups.items()):
            if column.startswith("top1") and key[4] == 1:
                continue  # with k = 1 the top expert is the whole output
            points = sorted(group(srows, lambda r: r["sparsity"]).items())
            stats = [mean_ci(r[column] for r in rs) for _, rs in points]
            xs = [1 / (1 - s) if sweep else i for s, _ in points]
            ys = [m for m, _, _ in stats]
            if all(math.isnan(y) for y in ys):
                continue
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.0,
                    color=PALETTE[i % len(PALETTE)], label=setup_label(key, varying))
            if column == "top_share":  # what an even split would give
                ax.axhline(1 / key[3], color=PALETTE[i % len(PALETTE)], linewidth=0.6,
                           linestyle=":")
        if ref is not None:
            ax.axhline(ref, color="grey", linewidth=0.6, linestyle="--")
        ax.set_ylabel(label)
        if sweep:
            ax.set_xscale("log")
            ax.set_xlabel("1/(1−S)")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            ax.set_xticks(range(len(setups)))
            ax.set_xticklabels([setup_label(k, varying) for k in setups], rotation=30,
                               ha="right")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)),
               frameon=False)
    fig.suptitle(f"MoE Lens — {source.title}\ndotted: an even split (1/E); dashed: the ensemble "
                 "itself; top-1 numbers only for k > 1; mean over each point's runs")
    return fig
