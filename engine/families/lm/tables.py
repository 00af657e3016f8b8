"""A trained lm unit as the store's tables (db/migration_lm.py), keyed by local_index:
runs (kind lm-dense / lm-moe), lm_runs, lm_eval, lm_checkpoints, lm_lens, lm_lens_experts
and metrics (the training log)."""

from __future__ import annotations

import json

import numpy as np

from ...version import ENGINE_VERSION
from .trainer import LOGGED, LMResult


def tables(runs, results: list[LMResult], lens: list[dict | None]) -> dict:
    n = len(runs)
    out: dict[str, dict[str, list]] = {k: {} for k in (
        "lm_runs", "lm_eval", "lm_checkpoints", "lm_lens", "lm_lens_experts", "metrics")}
    for i, (run, res, ln) in enumerate(zip(runs, results, lens, strict=True)):
        m, tr = run.model, run.cfg.train
        total, active = res.model.n_params()
        from .tokenizer import vocab_used
        _add(out["lm_runs"], {
            "local_index": i, "model": m.kind, "n_layers": m.n_layers, "d_model": m.d_model,
            "n_heads": m.n_heads, "context": m.context, "d_mlp": m.d_mlp,
            "d_expert": m.d_expert, "vocab_size": m.vocab_size,
            "vocab_used": vocab_used(run.prepared.tokenizer), "n_params": total,
            "n_active_params": active,
            "tokens_trained": tr.steps * tr.batch_size * m.context,
            "tokens_per_second": res.tokens_per_second,
            "tokenizer": run.prepared.tokenizer, "corpus": json.dumps(run.prepared.corpus)})
        for row in res.evals:
            _add(out["lm_eval"], {"local_index": i, **row})
        for step, state in res.checkpoints:
            for name, arr in state.items():
                _add(out["lm_checkpoints"], {"local_index": i, "step": step, "tensor": name,
                                             "shape": json.dumps(list(arr.shape)),
                                             "data": arr.reshape(-1)})
        for table in ("lm_lens", "lm_lens_experts"):
            if ln is not None:
                cols = ln[table]
                rows = len(next(iter(cols.values()))) if cols else 0
                for k, v in {"local_index": [i] * rows, **cols}.items():
                    out[table].setdefault(k, []).extend(v)
        for name in LOGGED:
            for step, value in zip(res.log_steps, res.log[name], strict=True):
                _add(out["metrics"], {"local_index": i, "step": step, "name": name,
                                      "value": value})
    final = [_final_eval(res) for res in results]
    col = lambda f: [f(r) for r in runs]  # noqa: E731
    out["runs"] = {
        "local_index": np.arange(n), "status": ["done"] * n,
        "kind": col(lambda r: f"lm-{r.model.kind}"),
        "d_hidden": col(lambda r: r.model.d_expert),
        "n_experts": col(lambda r: r.model.n_experts), "k": col(lambda r: r.model.k),
        "gating": col(lambda r: r.model.gating),
        "router_init": col(lambda r: r.model.router_init if r.model.n_experts > 1 else None),
        "seed": col(lambda r: r.seed),
        "chosen": np.ones(n, dtype=bool), "point": col(lambda r: r.variant),
        "steps": col(lambda r: r.cfg.train.steps),
        "batch_size": col(lambda r: r.cfg.train.batch_size),
        "lr": col(lambda r: float(r.cfg.train.lr)),
        "weight_decay": col(lambda r: float(r.cfg.train.weight_decay)),
        "lb_coef": col(lambda r: float(r.cfg.train.lb_coef)),
        "device": [r.device for r in results],
        "started_at": np.array([r.started_at for r in results]),
        "finished_at": np.array([r.finished_at for r in results]),
        "train_seconds": np.array([r.train_seconds for r in results]),
        "final_loss": np.array([r.final_loss for r in results]),
        "eval_loss": np.array(final, dtype=np.float64),
        "lens_top1_cosine": np.array([_mean(ln, "cos_hidden") for ln in lens]),
        "config": col(lambda r: r.to_json()),
        "engine_version": np.full(n, ENGINE_VERSION)}
    out["lm_checkpoints"]["data"] = _ragged(out["lm_checkpoints"].get("data", []))
    return {k: v for k, v in out.items() if k == "runs" or v.get("local_index")}


def _final_eval(res: LMResult) -> float:
    """The mean held-out loss over the domains at the last step."""
    last = max(e["step"] for e in res.evals)
    return float(np.mean([e["loss"] for e in res.evals if e["step"] == last]))


def _mean(ln: dict | None, key: str) -> float:
    return float(np.mean(ln["lm_lens"][key])) if ln and ln["lm_lens"].get(key) else np.nan


def _ragged(values: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float32) for v in values]


def _add(acc: dict[str, list], row: dict) -> None:
    for k, v in row.items():
        acc.setdefault(k, []).append(v)
