"""Training curves: a logged metric against step, one curve per setup (mean over its chosen
runs with a 95% band)."""

from __future__ import annotations

from .data import Source, by_setup, group, mean_ci, require, setup_label, varying_columns
from .style import COLUMN_WIDTH, curve_colour, figure

LABELS = {"loss": "training loss", "rec_loss": "reconstruction loss",
          "lb_loss": "load-balancing loss", "router_grad_norm": "router gradient norm"}


def draw(source: Source):
    metric = source.metric or "loss"
    known = source.client.read("figure_metric_names", experiment_id=source.experiment_id)
    require(bool(known), f"experiment {source.experiment_id} has no logged training metrics "
            f"(status {source.experiment.get('status')})")
    require(metric in known, f"--metric for training-curves is one of {', '.join(known)}, "
            f"not {metric!r}")
    runs = {r["run_id"]: r for r in source.rows("figure_runs")}
    points = source.rows("figure_metrics", metric=metric)
    setups = by_setup([runs[r] for r in runs])
    varying = varying_columns(list(runs.values()))
    by_run = group(points, lambda p: p["run_id"])
    fig, axes = figure(1, 1, width=COLUMN_WIDTH, panel_height=2.4)
    ax = axes[0, 0]
    moe, counts, positive = 0, set(), True
    for key, rows in setups.items():
        steps = group((p for r in rows for p in by_run.get(r["run_id"], [])),
                      lambda p: p["step"])
        xs = sorted(steps)
        stats = [mean_ci(p["value"] for p in steps[s]) for s in xs]
        counts.add(len(rows))
        colour = curve_colour(moe, key[0] == "dense")
        moe += key[0] != "dense"
        mean = [m for m, _, _ in stats]
        ax.plot(xs, mean, color=colour, linewidth=1.1, label=setup_label(key, varying))
        if len(rows) > 1:
            ax.fill_between(xs, [m - h for m, h, _ in stats], [m + h for m, h, _ in stats],
                            color=colour, alpha=0.2, linewidth=0)
        positive &= all(m > 0 for m in mean)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.legend(frameon=False)
    n = "–".join(str(c) for c in sorted({min(counts), max(counts)}))
    fig.suptitle(f"{LABELS.get(metric, metric).capitalize()} — {source.title}\n"
                 f"mean over the n = {n} chosen runs of each setup (its sweep points and seeds), "
                 "band = 95% CI")
    return fig
