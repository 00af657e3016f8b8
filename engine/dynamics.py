"""The paper's metrics at every snapshot of training, and each feature's specialisation step.

Pure functions of the snapshots (engine/snapshots.py), vectorised over instances and
snapshots at once: (inst, S, E, m, n) is folded to (inst·S, E, m, n) for engine/metrics.py.
Usage and routing fraction use one fixed sample of inputs per run, shared by its snapshots,
so a change between snapshots is the router's, not the sample's.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M
from .snapshots import Snapshots

DYNAMICS_SAMPLES = 512  # usage to about ±0.02; the same inputs at every snapshot
DYNAMICS_SEED = 20250104
_CHUNK_ELEMENTS = 1 << 22  # bounds the (inst, S, samples, E) logits of one slice


def feature_metrics(W: np.ndarray, th: M.Thresholds = M.DEFAULT_THRESHOLDS
                    ) -> dict[str, np.ndarray]:
    """norm, superposition, dimensionality, monosemantic of W (inst, S, E, m, n): each
    (inst, S, E, n)."""
    n_inst, S, E, m, n = W.shape
    flat = W.reshape(n_inst * S, E, m, n)
    step = max(1, _CHUNK_ELEMENTS // (E * n * max(n, m)))  # the (·, E, n, n) interference
    parts = []
    for s in range(0, len(flat), step):
        w = flat[s:s + step].astype(np.float64)
        inter = M.interference(w)  # once, for the three metrics that need it
        parts.append({"norm": M.feature_norms(w),
                      "superposition": M.superposition(w, inter=inter),
                      "dimensionality": M.dimensionality(w, inter=inter),
                      "monosemantic": M.monosemantic(w, th, inter=inter)})
    return {k: np.concatenate([p[k] for p in parts]).reshape(n_inst, S, E, n)
            for k in parts[0]}


def routing(router: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Usage p_e (mean renormalised gate) and routing fraction f_e at each snapshot:
    router (inst, S, E, n), x (inst, N, n) -> two (inst, S, E). Ties to the lowest expert."""
    n_inst, S, E, n = router.shape
    if E == 1:
        ones = np.ones((n_inst, S, E))
        return ones, ones.copy()
    usage = np.empty((n_inst, S, E))
    frac = np.empty((n_inst, S, E))
    step = max(1, _CHUNK_ELEMENTS // (S * x.shape[1] * E))
    xt = np.swapaxes(x, 1, 2)[:, None].astype(np.float32)  # (inst, 1, n, N)
    for s in range(0, n_inst, step):
        sl = slice(s, s + step)
        logits = np.matmul(router[sl].astype(np.float32), xt[sl])  # (inst, S, E, N)
        if k == 1:  # the renormalised gate is 1 on the argmax: usage = routing fraction
            frac[sl] = _argmax_shares(logits)
            usage[sl] = frac[sl]
            continue
        probs = M._softmax(np.swapaxes(logits, 2, 3).astype(np.float64))  # (inst, S, N, E)
        chosen = M.top_k_weights(probs, k)
        gated = probs * chosen
        usage[sl] = (gated / gated.sum(-1, keepdims=True)).mean(2)
        frac[sl] = chosen.mean(2)
    return usage, frac


def _argmax_shares(logits: np.ndarray) -> np.ndarray:
    """Share of samples whose largest logit is expert e's, ties to the lower expert:
    (…, E, N) -> (…, E). A running comparison over the few experts, in place."""
    E, N = logits.shape[-2:]
    best = logits[..., 0, :].copy()
    idx = np.zeros(best.shape, np.int8)
    upd = np.empty(best.shape, bool)
    for e in range(1, E):
        np.greater(logits[..., e, :], best, out=upd)
        np.maximum(best, logits[..., e, :], out=best)
        np.putmask(idx, upd, e)
    return np.stack([np.count_nonzero(idx == e, axis=-1) for e in range(E)], -1) / N


def specialization_steps(mono: np.ndarray, steps: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the first snapshot step from which it stays monosemantic in one expert
    (through the last snapshot), and that expert: mono (inst, S, E, n) -> step, expert, each
    (inst, n), -1 where no expert keeps it monosemantic to the end. When several experts do,
    the earliest wins (the lower expert on a tie)."""
    n_inst, S, E, n = mono.shape
    # stays[j] = monosemantic at every snapshot from j on: an AND accumulated backwards
    stays = np.logical_and.accumulate(mono[:, ::-1], axis=1)[:, ::-1]
    ever = stays.any(1)  # (inst, E, n)
    first = np.where(ever, stays.argmax(1), S)  # (inst, E, n) snapshot index, S = never
    expert = first.argmin(1)  # (inst, n)
    j = np.take_along_axis(first, expert[:, None, :], 1)[:, 0]
    found = j < S
    step = np.where(found, np.asarray(steps)[np.minimum(j, S - 1)], -1)
    return step, np.where(found, expert, -1)


def dynamics_tables(snap: Snapshots, k: int, p: np.ndarray, last_scale: np.ndarray,
                    th: M.Thresholds = M.DEFAULT_THRESHOLDS) -> dict[str, dict[str, object]]:
    """The chunk tables of a batch's snapshots: snapshots (weights), dynamics_features,
    dynamics_experts, dynamics_runs and specialization (one row per run and feature)."""
    from .data import sample_numpy  # imports torch: only where snapshots exist
    n_inst, S, E, m, n = snap.W.shape
    steps = np.asarray(snap.steps, dtype=np.int64)
    f = feature_metrics(snap.W, th)
    x = sample_numpy(p, last_scale, DYNAMICS_SAMPLES, DYNAMICS_SEED).astype(np.float64)
    usage, frac = routing(snap.router.astype(np.float64), x, k)
    fpd = (usage * (snap.W.astype(np.float64) ** 2).sum((3, 4))).sum(-1) / (k * m)
    spec_step, spec_expert = specialization_steps(f["monosemantic"], steps)
    rows_e, rows_f = n_inst * S * E, n_inst * S * E * n
    return {
        "snapshots": {
            "local_index": np.repeat(np.arange(n_inst), S * E),
            "step": np.tile(np.repeat(steps, E), n_inst),
            "expert": np.tile(np.arange(E), n_inst * S),
            "W": snap.W.reshape(rows_e, m * n),
            "b": snap.b.reshape(rows_e, n),
            "router": snap.router.reshape(rows_e, n),
        },
        "dynamics_features": {
            "local_index": np.repeat(np.arange(n_inst), S * E * n),
            "step": np.tile(np.repeat(steps, E * n), n_inst),
            "expert": np.tile(np.repeat(np.arange(E), n), n_inst * S),
            "feature": np.tile(np.arange(n), n_inst * S * E),
            **{name: v.reshape(rows_f) for name, v in f.items()},
        },
        "dynamics_experts": {
            "local_index": np.repeat(np.arange(n_inst), S * E),
            "step": np.tile(np.repeat(steps, E), n_inst),
            "expert": np.tile(np.arange(E), n_inst * S),
            "usage": usage.reshape(rows_e),
            "route_fraction": frac.reshape(rows_e),
        },
        "dynamics_runs": {
            "local_index": np.repeat(np.arange(n_inst), S),
            "step": np.tile(steps, n_inst),
            "fpd": fpd.reshape(-1),
            "loss": snap.loss.reshape(-1),
        },
        "specialization": {
            "local_index": np.repeat(np.arange(n_inst), n),
            "feature": np.tile(np.arange(n), n_inst),
            # None (NULL) for a feature that never settles
            "expert": [None if e < 0 else int(e) for e in spec_expert.ravel()],
            "step": [None if s < 0 else int(s) for s in spec_step.ravel()],
        },
    }
