"""Crosscoder figures: the relative decoder norm histogram (the crosscoder papers' figure),
activation density by latent class, and recovery of the true input features by class.
One panel per MoE setup the experiment's crosscoders diff against the dense model."""

from __future__ import annotations

import numpy as np

from .data import Source, group, mean_ci, require
from .style import DENSE, PAGE_WIDTH, PALETTE, figure

CLASS_COLOURS = {"shared": PALETTE[0], "designated": "#999999", "dense-only": DENSE,
                 "moe-only": PALETTE[1], "dead": "#d9d9d9"}
TRUTH = ("shared", "dense-only", "moe-only")


def _setups(source: Source) -> tuple[dict, dict]:
    """setup label -> crosscoder rows, and run_id -> setup label."""
    rows = source.rows("crosscoder_summary")
    require(bool(rows), f"experiment {source.experiment_id} has no stored crosscoders "
            "(train some with `moelab crosscode`)")
    label = lambda r: f"dense m={r['dense_d_hidden']} vs MoE E={r['moe_n_experts']} "\
        f"k={r['moe_k']} m={r['moe_d_hidden']}"  # noqa: E731
    by = group(rows, label)
    return by, {r["run_id"]: lab for lab, rs in by.items() for r in rs}


def _panels(n: int, height: float = 1.9):
    fig, axes = figure(1, n, width=min(PAGE_WIDTH, 2.6 * n + 0.4), panel_height=height)
    return fig, axes[0]


def _latent_class(row: dict) -> str:
    return "designated" if row["designated"] else row["class"]


def draw_relative_norms(source: Source):
    by, setup_of = _setups(source)
    latents = group(source.rows("crosscoder_latents"), lambda r: setup_of.get(r["run_id"]))
    threshold = next(iter(by.values()))[0]["class_threshold"]
    fig, axes = _panels(len(by))
    bins = np.linspace(0, 1, 41)
    for ax, (label, rows) in zip(axes, by.items(), strict=True):
        live = [r for r in latents.get(label, []) if r["class"] != "dead"]
        parts = [("designated", [r["relative_norm"] for r in live if r["designated"]]),
                 ("learned", [r["relative_norm"] for r in live if not r["designated"]])]
        ax.hist([v for _, v in parts], bins=bins, stacked=True,
                color=[CLASS_COLOURS["designated"], CLASS_COLOURS["shared"]],
                label=["designated shared (tied)", "other latents"])
        for x in (threshold, 1 - threshold):
            ax.axvline(x, color="#555555", linewidth=0.6, linestyle="--")
        ax.set_xlabel("r = ‖d_dense‖ / (‖d_dense‖ + ‖d_MoE‖)\n0: MoE-only · 1: dense-only")
        ax.set_title(f"{label}\n{len(rows)} crosscoders, {len(live)} live latents")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("latents")
    fig.legend(*axes[0].get_legend_handles_labels(), frameon=False, loc="outside lower center",
               ncols=2)
    fig.suptitle(f"Relative decoder norms — {source.title}")
    return fig


def draw_densities(source: Source):
    by, setup_of = _setups(source)
    latents = group(source.rows("crosscoder_latents"), lambda r: setup_of.get(r["run_id"]))
    classes = ("designated", "shared", "dense-only", "moe-only")
    fig, axes = _panels(len(by))
    rng = np.random.default_rng(0)
    for ax, (label, rows) in zip(axes, by.items(), strict=True):
        live = [r for r in latents.get(label, []) if r["class"] != "dead"]
        for x, c in enumerate(classes):
            mine = [r for r in live if _latent_class(r) == c]
            d = np.array([r["density"] for r in mine])
            if len(d):
                ax.scatter(x + rng.uniform(-0.25, 0.25, len(d)), d, s=3, alpha=0.5,
                           color=CLASS_COLOURS[c], linewidths=0)
            per_cc = [np.mean([r["density"] for r in g]) for g in
                      group(mine, lambda r: r["run_id"]).values()]
            m, h, n = mean_ci(per_cc)
            if n:
                ax.errorbar([x + 0.35], [m], yerr=[h], fmt="o", color="black", markersize=3,
                            elinewidth=0.8, capsize=2)
        ax.set_yscale("log")
        ax.set_xticks(range(len(classes)), ["designated\n(tied)", "shared", "dense-\nonly",
                                            "MoE-\nonly"])
        ax.set_title(f"{label}\n{len(rows)} crosscoders")
    axes[0].set_ylabel("activation density (share of inputs)")
    fig.suptitle(f"Latent densities by class — {source.title}\n"
                 "dots: latents; black: mean over crosscoders of their class mean, 95% CI")
    return fig


def draw_recovery(source: Source):
    by, setup_of = _setups(source)
    rows = source.rows("crosscoder_features")
    require(bool(rows), f"experiment {source.experiment_id}'s crosscoders have no recovery: no "
            "ground truth for language models (only toy models' input features are known)")
    feats = group(rows, lambda r: setup_of.get(r["run_id"]))
    fig, axes = _panels(len(by), height=2.1)
    rng = np.random.default_rng(0)
    for ax, (label, rows) in zip(axes, by.items(), strict=True):
        for x, truth in enumerate(TRUTH):
            mine = [f for f in feats.get(label, []) if f["truth"] == truth]
            for off, model in ((-0.18, "dense"), (0.18, "moe")):
                pts = [f for f in mine if f[f"{model}_cosine"] is not None
                       and (truth == "shared" or truth.startswith(model))]
                if not pts:
                    continue
                ax.scatter(x + off + rng.uniform(-0.1, 0.1, len(pts)),
                           [f[f"{model}_cosine"] for f in pts], s=5, linewidths=0,
                           color=[CLASS_COLOURS.get(f[f"{model}_latent_class"] or "dead")
                                  for f in pts], marker="o" if model == "dense" else "^")
        ax.axhline(0.9, color="#555555", linewidth=0.6, linestyle="--")
        ax.set_xticks(range(len(TRUTH)), ["in both", "dense only", "MoE only"])
        ax.set_xlabel("truly represented (norm ≥ 0.5)")
        ax.set_ylim(min(0.5, ax.get_ylim()[0]), 1.02)
        ax.set_title(f"{label}\n{len(rows)} crosscoders")
    axes[0].set_ylabel("best decoder cosine with the feature's direction")
    handles = [axes[0].scatter([], [], s=8, color=c, label=k)
               for k, c in CLASS_COLOURS.items() if k not in ("designated", "dead")]
    handles += [axes[0].scatter([], [], s=8, color="#777777", marker=m, label=t)
                for m, t in (("o", "in the dense model"), ("^", "in the MoE"))]
    fig.legend(handles=handles, frameon=False, loc="outside right center",
               title="class of the best latent")
    fig.suptitle(f"Recovery of the true input features — {source.title}")
    return fig
