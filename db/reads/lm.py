"""Reads for small language models (the lm family): the tokenizer a resumed experiment must
keep, and its results for the command line, figures and later analyses (registered into
READS). Results come back as columns ({"column": [values, ...]}), like the figure reads."""

from __future__ import annotations

import json

from ..registry import plain, register_read, rows_as_dicts
from ..store import Store


def _columns(names: list[str], rows: list) -> dict[str, list]:
    return {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}


def experiment_tokenizer(store: Store, experiment_id: int) -> str | None:
    """The tokenizer JSON the experiment's stored lm runs were trained with, or None."""
    _, rows = store.query(
        "SELECT l.tokenizer FROM store.lm_runs l JOIN store.runs r USING (run_id) "
        "WHERE r.experiment_id = ? ORDER BY r.run_id LIMIT 1", [int(experiment_id)])
    return rows[0][0] if rows else None


@register_read("lm_summary")
def lm_summary(store: Store, experiment_id: int) -> dict:
    """One row per model of the experiment (the lm_runs view, less its corpus)."""
    names, rows = store.query(
        "SELECT * EXCLUDE (corpus) FROM lm_runs WHERE experiment_id = ? ORDER BY run_id",
        [int(experiment_id)])
    return _columns(names, rows)


@register_read("lm_corpus")
def lm_corpus(store: Store, run_id: int) -> list[dict]:
    """Per domain: where its text came from, its digest, characters and tokens per split."""
    _, rows = store.query("SELECT corpus FROM store.lm_runs WHERE run_id = ?", [int(run_id)])
    return json.loads(rows[0][0]) if rows and rows[0][0] else []


@register_read("lm_eval")
def lm_eval(store: Store, experiment_id: int) -> dict:
    """Held-out loss and perplexity per model, snapshot step and domain (lm_eval view)."""
    names, rows = store.query(
        "SELECT e.* FROM lm_eval e JOIN runs r USING (run_id) WHERE r.experiment_id = ? "
        "ORDER BY e.run_id, e.step, e.domain", [int(experiment_id)])
    return _columns(names, rows)


@register_read("lm_lens")
def lm_lens(store: Store, experiment_id: int) -> dict:
    """MoE Lens per MoE model, domain and layer: routing concentration, early decoding."""
    names, rows = store.query(
        "SELECT x.* FROM lm_lens x JOIN runs r USING (run_id) WHERE r.experiment_id = ? "
        "ORDER BY x.run_id, x.domain, x.layer", [int(experiment_id)])
    return _columns(names, rows)


@register_read("lm_lens_experts")
def lm_lens_experts(store: Store, experiment_id: int) -> dict:
    """MoE Lens per expert: routing shares and the held-out loss with it ablated."""
    names, rows = store.query(
        "SELECT x.* FROM lm_lens_experts x JOIN runs r USING (run_id) "
        "WHERE r.experiment_id = ? ORDER BY x.run_id, x.domain, x.layer, x.expert",
        [int(experiment_id)])
    return _columns(names, rows)


@register_read("lm_checkpoint")
def lm_checkpoint(store: Store, run_id: int, step: int | None = None) -> dict:
    """A model's weights at a snapshot step (the last one when step is None):
    {"step": s, "tensors": {name: {"shape": [...], "data": [...]}}}; empty when none."""
    if step is None:
        _, rows = store.query("SELECT max(step) FROM store.lm_checkpoints WHERE run_id = ?",
                              [int(run_id)])
        step = rows[0][0] if rows else None
        if step is None:
            return {}
    _, rows = store.query(
        "SELECT tensor, shape, data FROM store.lm_checkpoints WHERE run_id = ? AND step = ? "
        "ORDER BY tensor", [int(run_id), int(step)])
    return {"step": int(step), "tensors": {t: {"shape": json.loads(s), "data": list(d)}
                                           for t, s, d in rows}} if rows else {}


@register_read("lm_lens_panel")
def lm_lens_panel(store: Store, experiment_id: int) -> dict | None:
    """What the Experts view's Lens panel, the lm-lens figure and REPORT show of an lm
    experiment; None when it holds no lm model (a toy experiment).
    {runs: its MoE models (shape, parameters), n_dense: its dense models, lens: per MoE
    model, domain and layer the lm_lens row, domains: per MoE model and domain at the last
    snapshot the held-out perplexity, with only the top expert at every layer, and the worst
    and mean expert ablation (ablated_increase; worst_layer, worst_expert)}."""
    eid = [int(experiment_id)]
    models = rows_as_dicts(*store.query(
        "SELECT run_id, model, seed, variant, n_layers, d_model, n_heads, context, d_mlp, "
        "d_expert, n_experts, k, gating, n_params, n_active_params, tokens_trained, "
        "eval_perplexity FROM lm_runs WHERE experiment_id = ? ORDER BY run_id", eid))
    if not models:
        return None
    lens = rows_as_dicts(*store.query(
        "SELECT x.* FROM lm_lens x JOIN runs r USING (run_id) WHERE r.experiment_id = ? "
        "ORDER BY x.run_id, x.domain, x.layer", eid))
    domains = rows_as_dicts(*store.query(
        "WITH last AS (SELECT e.* FROM lm_eval e JOIN runs r USING (run_id) "
        "              WHERE r.experiment_id = ? AND r.n_experts > 1 "
        "              QUALIFY e.step = max(e.step) OVER (PARTITION BY e.run_id)), "
        "abl AS (SELECT run_id, domain, max(ablated_increase) AS worst_increase, "
        "               arg_max(layer, ablated_increase) AS worst_layer, "
        "               arg_max(expert, ablated_increase) AS worst_expert, "
        "               avg(ablated_increase) AS mean_increase "
        "        FROM lm_lens_experts GROUP BY run_id, domain) "
        "SELECT l.run_id, l.domain, l.step, l.perplexity, l.perplexity_top1, "
        "       l.top1_increase, a.worst_increase, a.worst_layer, a.worst_expert, "
        "       a.mean_increase "
        "FROM last l LEFT JOIN abl a USING (run_id, domain) ORDER BY l.run_id, l.domain", eid))
    return {"runs": [m for m in models if m["n_experts"] > 1],
            "n_dense": sum(m["n_experts"] <= 1 for m in models), "lens": lens,
            "domains": domains}
