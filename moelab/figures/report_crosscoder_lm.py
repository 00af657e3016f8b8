"""REPORT.md lines for a crosscoder experiment over language models (an lm experiment's
dense/MoE pair): the crosscoder paper's three claims, measured with the verdicts of
report_crosscoder.measure (every crosscoder, 95 % intervals, leave-one-out), beside the size
of the models they were measured on. There is no ground truth here, so no recovery."""

from __future__ import annotations

import json

from .data import as_rows
from .report_format import table


def model_size(client, rows: list[dict]) -> str:
    """"2 layers, d_model 64, … weights (… active)" of the pair's models, per kind."""
    eid = rows[0].get("source_experiment")
    ids = {r["dense_run_id"] for r in rows} | {r["moe_run_id"] for r in rows}
    models = [m for m in as_rows(client.read("lm_summary", experiment_id=eid))
              if m["run_id"] in ids] if eid is not None else []
    if not models:
        return "models not found"
    parts = []
    for m in sorted(models, key=lambda m: (m["model"], m["run_id"])):
        parts.append(f"{m['model']} run {m['run_id']}: {m['n_layers']} layers, d_model "
                     f"{m['d_model']}, {m['n_params']:,} weights ({m['n_active_params']:,} "
                     f"active per token), {m['tokens_trained']:,} training tokens")
    return "; ".join(dict.fromkeys(parts))


def _layer(client, experiment_id: int, rows: list[dict]) -> str:
    for e in client.read("experiments"):
        if e["experiment_id"] == experiment_id:
            layer = (json.loads(e.get("config") or "{}").get("source") or {}).get("layer")
            return "the middle block (the default)" if layer is None else f"block {layer}"
    return "?"


def lm_lines(client, rows: list[dict], measured: list[dict], paper: dict[str, str],
             no_truth: str) -> list[str]:
    """paper: the claims (report_crosscoder.PAPER); no_truth: the line that says why there
    is no recovery (passed in: this module is imported by report_crosscoder)."""
    eid = rows[0].get("experiment_id")
    lines = [f"Crosscoders over the residual stream after {_layer(client, eid, rows)} of a "
             f"dense and an MoE language model trained here on held-out text (experiment "
             f"{rows[0].get('source_experiment')}): {model_size(client, rows)}. The paper's "
             "models are 5-layer transformers trained on far more text; ours are tiny, so "
             f"read these as the lab working, not a replication. {no_truth}.", ""]
    for m in measured:
        lines += [f"**{m['setup']}**: {m['n']} crosscoders on model seeds {m['seeds']}; "
                  "mean ± 95 % interval over crosscoders.", "",
                  table(["", "dense", "MoE"], [
                      ["variance explained", m["fve_dense"], m["fve_moe"]],
                      ["model-only latents", m["dense_only"], m["moe_only"]],
                      ["mean density of model-only latents", m["density"]["dense_only"],
                       m["density"]["moe_only"]]]), "",
                  f"Shared latents {m['shared']} (density {m['density']['shared']}).", "",
                  f"**Paper:** {paper['fve']} **Verdict:** {m['fve_word']} (measure: FVE of "
                  "both spaces ≥ 0.87)", "",
                  f"**Paper:** {paper['unique']} **Verdict:** {m['unique_word']}: dense-only "
                  f"− MoE-only latents {m['unique_detail']} (measure: > 0, interval "
                  "excluding 0)", "",
                  f"**Paper:** {paper['density']} **Verdict:** {m['density_word']}: "
                  f"{m['density_detail']} (measure: > 0 and < 0, intervals excluding 0)", ""]
    return lines
