"""A trained unit of crosscoders as the store's tables: runs (kind 'crosscoder'), crosscoders,
crosscoder_latents, crosscoder_recovery and metrics, keyed by local_index like every unit."""

from __future__ import annotations

import numpy as np

from ..crosscoder import LOGGED, CrosscoderResult
from ..crosscoder_metrics import (
    decoder_cosine,
    latent_classes,
    mcc,
    recovery,
    relative_norm,
)


def tables(runs, res: CrosscoderResult, source) -> dict:
    """source.truth(i): instance i's ground truth, or None (language models: no recovery
    rows, mcc NULL)."""
    cfg = runs[0].cfg
    cc = cfg.crosscoder
    n_inst, L = res.density.shape
    latents: dict[str, list] = {}
    rec: dict[str, list] = {}
    summary: dict[str, list] = {k: [] for k in ("dead_latents", "mcc_dense", "mcc_moe")}
    for i in range(n_inst):
        na = np.linalg.norm(res.dec_a[i], axis=-1)
        nb = np.linalg.norm(res.dec_b[i], axis=-1)
        r = relative_norm(na, nb)
        classes = latent_classes(r, res.density[i], cc.n_shared, cc.class_threshold)
        _extend(latents, {
            "local_index": [i] * L, "latent": list(range(L)),
            "designated": [j < cc.n_shared for j in range(L)],
            "norm_dense": na, "norm_moe": nb, "relative_norm": r, "class": list(classes),
            "density": res.density[i], "decoder_cosine": decoder_cosine(res.dec_a[i],
                                                                        res.dec_b[i])})
        truth = source.truth(i)
        if truth is None:
            summary["mcc_dense"].append(None)
            summary["mcc_moe"].append(None)
        else:
            rows = recovery(res.dec_a[i], res.dec_b[i], classes, *truth)
            rows["local_index"] = [i] * len(rows["feature"])
            _extend(rec, rows)
            whole = [j for j, e in enumerate(rows["expert"]) if e is None]
            for model, key in (("dense", "mcc_dense"), ("moe", "mcc_moe")):
                pick = [j for j in whole if rows["model"][j] == model]
                summary[key].append(mcc(np.array([rows["norm"][j] for j in pick]),
                                        np.array([rows["cosine"][j] for j in pick],
                                                 dtype=float)))
        summary["dead_latents"].append(int((classes == "dead").sum()))
    dA, dB = res.dec_a.shape[-1], res.dec_b.shape[-1]
    latents["dec_dense"] = res.dec_a.reshape(n_inst * L, dA)
    latents["dec_moe"] = res.dec_b.reshape(n_inst * L, dB)
    latents["enc_dense"] = np.swapaxes(res.enc_a, 1, 2).reshape(n_inst * L, dA)
    latents["enc_moe"] = np.swapaxes(res.enc_b, 1, 2).reshape(n_inst * L, dB)
    idx = np.arange(n_inst)
    crosscoders = {
        "local_index": idx, "dense_run_id": [r.dense_run for r in runs],
        "moe_run_id": [r.moe_run for r in runs], "n_latents": [cc.n_latents] * n_inst,
        "k": [cc.k] * n_inst, "n_designated": [cc.n_shared] * n_inst,
        "class_threshold": [cc.class_threshold] * n_inst, "d_dense": [dA] * n_inst,
        "d_moe": [dB] * n_inst, "scale_dense": res.scale[:, 0], "scale_moe": res.scale[:, 1],
        "fve_dense": res.fve[:, 0], "fve_moe": res.fve[:, 1], **summary}
    n_logs = len(res.log_steps)
    metrics = {
        "local_index": np.repeat(idx, n_logs * len(LOGGED)),
        "step": np.tile(res.log_steps, n_inst * len(LOGGED)),
        "name": [name for _ in range(n_inst) for name in LOGGED for _ in range(n_logs)],
        "value": np.stack([res.log[name] for name in LOGGED], 1).ravel().astype(np.float64)}
    out = {"runs": _runs_table(runs, res), "crosscoders": crosscoders,
           "crosscoder_latents": latents, "crosscoder_recovery": rec, "metrics": metrics}
    return {k: v for k, v in out.items() if v}  # no recovery table without a ground truth


def _runs_table(runs, res: CrosscoderResult) -> dict:
    n_inst = len(runs)
    tr = runs[0].cfg.train
    return {
        "local_index": np.arange(n_inst), "status": ["done"] * n_inst,
        "kind": ["crosscoder"] * n_inst,
        "n_features": [r.moe["model"].get("n_features") for r in runs],
        "seed": [r.seed for r in runs], "chosen": np.ones(n_inst, dtype=bool),
        "point": [r.pair for r in runs], "steps": [tr.steps] * n_inst,
        "batch_size": [tr.batch_size] * n_inst, "lr": [float(tr.lr)] * n_inst,
        "weight_decay": [0.0] * n_inst, "device": [res.device] * n_inst,
        "started_at": np.full(n_inst, res.started_at),
        "finished_at": np.full(n_inst, res.finished_at),
        "train_seconds": np.full(n_inst, res.train_seconds / n_inst),
        "final_loss": res.final_loss.astype(np.float64),
        "eval_loss": res.eval_loss.astype(np.float64),
        "config": [r.to_json() for r in runs]}


def _extend(acc: dict[str, list], cols: dict) -> None:
    for k, v in cols.items():
        acc.setdefault(k, []).extend(list(v))
