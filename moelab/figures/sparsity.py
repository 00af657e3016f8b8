"""Features per dimension and loss against feature sparsity (the paper's Figures 3 and 6),
dense against each MoE, on the 1/(1−S) axis; several seeds give a mean and a 95% band."""

from __future__ import annotations

from matplotlib.ticker import FuncFormatter

from .data import (
    Source,
    by_setup,
    group,
    mean_ci,
    require,
    seeds_note,
    setup_label,
    varying_columns,
)
from .style import COLUMN_WIDTH, curve_colour, figure

FPD_METRICS = {"fpd": "features per dimension", "capacity": "capacity Σ_e Σ_i D_i^e"}
LOSS_METRICS = {"eval_loss": "loss on a fresh evaluation batch",
                "final_loss": "loss on the last training batch"}


def curves(source: Source, column: str) -> list[dict]:
    """Per setup: sparsities, means, 95% half-widths and seed counts. Shared with the report."""
    runs = source.rows("figure_runs")
    require(bool(runs), f"experiment {source.experiment_id} has no stored runs yet "
            f"(status {source.experiment.get('status')})")
    setups = by_setup(runs)
    require(any(len({r["sparsity"] for r in v}) > 1 for v in setups.values()),
            f"experiment {source.experiment_id} does not sweep sparsity; this figure needs "
            "several sparsities (e.g. `moelab run fig3 --quick`)")
    varying = varying_columns(runs)
    out = []
    for key, rows in setups.items():
        points = sorted(group(rows, lambda r: r["sparsity"]).items())
        stats = [mean_ci(r[column] for r in rs) for _, rs in points]
        out.append({"key": key, "label": setup_label(key, varying), "dense": key[0] == "dense",
                    "sparsity": [s for s, _ in points], "mean": [m for m, _, _ in stats],
                    "half": [h for _, h, _ in stats], "n": [n for _, _, n in stats]})
    return out


def _draw(source: Source, column: str, ylabel: str, title: str, log_y: bool, unit_line: bool):
    data = curves(source, column)
    fig, axes = figure(1, 1, width=COLUMN_WIDTH, panel_height=2.4)
    ax = axes[0, 0]
    moe = 0
    for c in data:
        colour = curve_colour(moe, c["dense"])
        moe += not c["dense"]
        x = [1 / (1 - s) for s in c["sparsity"]]
        lo = [m - h for m, h in zip(c["mean"], c["half"], strict=True)]
        hi = [m + h for m, h in zip(c["mean"], c["half"], strict=True)]
        ax.plot(x, c["mean"], "o-", color=colour, markersize=2.5, linewidth=1.2,
                label=c["label"])
        if max(c["n"]) > 1:
            ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
    if unit_line:
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("1 / (1 − S)   (S = feature sparsity)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    note = seeds_note(source, source.rows("figure_runs"),
                      lambda r: (tuple(r[k] for k in ("kind", "n_experts", "k", "d_hidden",
                                                      "router_init")), r["sparsity"]))
    fig.suptitle(f"{title}\n{source.title}; {note}")
    return fig


def draw_fpd(source: Source):
    metric = source.metric or "fpd"
    require(metric in FPD_METRICS, f"--metric for fpd-vs-sparsity is one of "
            f"{', '.join(FPD_METRICS)}, not {metric!r}")
    return _draw(source, metric, FPD_METRICS[metric],
                 f"{FPD_METRICS[metric].capitalize()} against sparsity", log_y=False,
                 unit_line=metric == "fpd")


def draw_loss(source: Source):
    metric = source.metric or "eval_loss"
    require(metric in LOSS_METRICS, f"--metric for loss-vs-sparsity is one of "
            f"{', '.join(LOSS_METRICS)}, not {metric!r}")
    return _draw(source, metric, LOSS_METRICS[metric], "Loss against sparsity", log_y=True,
                 unit_line=False)
