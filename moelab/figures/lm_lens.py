"""MoE Lens on a small language model (the lm family, docs/lm.md): per held-out domain
(one colour each) against the layer, early decoding (the hidden-state cosine of the
top-weighted expert alone against the full mixture, and the logit-lens perplexity with it
÷ with the full mixture) and routing concentration (the most used expert's and the top
quarter's share of the routing weight). One row of panels per MoE model."""

from __future__ import annotations

from .data import Source, require
from .style import PALETTE, figure

PANELS = (("cos_hidden", "cosine(hidden with top-1,\nhidden with all k)", 0.95),
          ("ppl_ratio", "logit-lens perplexity\ntop-1 only / full", 1.05),
          ("share_top1", "routing weight share\nof the top expert", None),
          ("share_top_quarter", "routing weight share\nof the top quarter", 0.5))


def draw(source: Source):
    panel = source.client.read("lm_lens_panel", experiment_id=source.experiment_id)
    require(panel is not None, f"experiment {source.experiment_id} holds no language models "
            "(lm-lens draws the lm family's MoE Lens; `moelab run lm-pair --quick` trains one)")
    runs = panel["runs"]
    require(bool(runs) and bool(panel["lens"]), f"experiment {source.experiment_id} has no "
            "MoE language model with MoE Lens numbers (only dense ones)")
    domains = sorted({r["domain"] for r in panel["lens"]})
    fig, axes = figure(len(runs), len(PANELS), panel_height=1.8)
    for row, run in enumerate(runs):
        rows = [r for r in panel["lens"] if r["run_id"] == run["run_id"]]
        for p, (column, label, ref) in enumerate(PANELS):
            ax = axes[row, p]
            for i, d in enumerate(domains):
                pts = sorted((r["layer"], _value(r, column)) for r in rows
                             if r["domain"] == d)
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", markersize=2.5,
                        linewidth=1.0, color=PALETTE[i % len(PALETTE)], label=d)
            if column == "share_top1":  # an even split
                ax.axhline(1 / run["n_experts"], color="grey", linewidth=0.6, linestyle=":")
            if ref is not None:
                ax.axhline(ref, color="grey", linewidth=0.6, linestyle="--")
            ax.set_xticks(range(run["n_layers"]))
            ax.set_xlabel("layer")
            ax.set_ylabel(label)
        axes[row, 0].set_title(f"run {run['run_id']}: E={run['n_experts']} k={run['k']}, "
                               f"{run['n_layers']} layers, {run['n_params']:,} weights",
                               loc="left")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)),
               frameon=False)
    fig.suptitle(f"MoE Lens on a language model — {source.title}\ndashed: MoE Lens' numbers "
                 "(cosine 0.95, +5 % perplexity, half the routing weight); dotted: an even "
                 "split (1/E)")
    return fig


def _value(row: dict, column: str) -> float:
    if column != "ppl_ratio":
        v = row[column]
        return float("nan") if v is None else v
    full, top1 = row["lens_perplexity"], row["lens_perplexity_top1"]
    return float("nan") if not full or top1 is None else top1 / full
