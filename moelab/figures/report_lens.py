"""REPORT.md's MoE Lens section for fig3's k > 1 models: the findings of "MoE Lens – An
Expert Is All You Need" (DeepSeekMoE) set against the toy models' numbers (engine/lens.py)."""

from __future__ import annotations

import math

from . import verdicts as V
from .data import Source, as_rows, by_setup, group, setup_label, varying_columns
from .report_format import table


def fig3(src: Source) -> list:
    """Claims with our numbers and verdicts; [] when the runs have no MoE Lens numbers."""
    rows = as_rows(src.client.read("lens_runs", experiment_id=src.experiment_id))
    rows = [r for r in rows if r["k"] > 1]
    if not rows:
        return []
    setups = by_setup(rows)
    varying = varying_columns(rows)
    labels = {k: setup_label(k, varying) for k in setups}
    S = sorted({r["sparsity"] for r in rows})

    def cell(key, s, column):
        vals = [r[column] for r in group(setups[key], lambda r: r["sparsity"]).get(s, [])]
        return V.pm([v for v in vals if v is not None and math.isfinite(v)])

    def shown(column: str) -> str:
        return table(["S"] + [labels[k] for k in setups],
                     [[f"{s:g}"] + [cell(k, s, column) for k in setups] for s in S])

    cos = [r["top1_cosine"] for r in rows if r["top1_cosine"] is not None]
    ratio = [r["top1_loss_ratio"] for r in rows if r["top1_loss_ratio"] is not None]
    even = {k: math.ceil(k[3] / 4) / k[3] for k in setups}
    quarter = [r["top_quarter_share"] for r in rows]
    return [
        ("MoE Lens (DeepSeekMoE): the top-weighted expert's output is close to the ensemble's "
         "(cosine up to 0.95).",
         f"Cosine of the top-weighted expert's output with the full output, k > 1 models:"
         f"\n\n{shown('top1_cosine')}",
         V.share_at_least([c >= 0.9 for c in cos], "k > 1 runs whose top-1 cosine is ≥ 0.9")),
        ("MoE Lens: the top-weighted expert alone costs little (perplexity +5 %).",
         f"Reconstruction loss with only the top-weighted expert / the full top-k loss:"
         f"\n\n{shown('top1_loss_ratio')}",
         V.share_at_least([x <= 1.10 for x in ratio], "k > 1 runs whose top-1-only loss is "
                          "within 10 % of the full loss")),
        ("MoE Lens: a few experts take most inputs.",
         "Share of routing weight of the top quarter of experts (an even split gives "
         + ", ".join(f"{labels[k]} {even[k]:.2f}" for k in setups)
         + f"):\n\n{shown('top_quarter_share')}",
         V.share_at_least([q >= 0.5 for q in quarter], "k > 1 runs whose top quarter of "
                          "experts takes at least half the routing weight")),
    ]
