"""What a trained crosscoder says, as pure functions of its decoders (numpy, per instance).

- latents: decoder norm per space, relative norm r = ‖d_dense‖ / (‖d_dense‖ + ‖d_moe‖),
  class: 'dead' (never fired on the evaluation batch), 'shared' (a designated shared latent,
  or t < r < 1 − t), 'dense-only' (r ≥ 1 − t), 'moe-only' (r ≤ t); t = class_threshold.
- recovery against the ground truth we know: for each input feature i, the best cosine of a
  live latent's decoder with the feature's direction in each model (the activation of the
  one-hot input e_i: W_i for the dense model, the gated W_iᵉ blocks for the MoE), and per
  expert, the best cosine of a decoder's block e with W_iᵉ. A feature whose direction has
  ~0 norm has none: its cosine is NaN (stored NULL), never the noise of a tiny vector.
- mcc: the mean over represented features (norm ≥ REPRESENTED) of their best cosine.
"""

from __future__ import annotations

import numpy as np

REPRESENTED = 0.5  # SPEC's tau_norm: a feature this long is represented by the model
NO_DIRECTION = 1e-3  # below this a feature's vector has no direction (SPEC, Metrics)
CLASSES = ("shared", "dense-only", "moe-only", "dead")


def relative_norm(norm_dense: np.ndarray, norm_moe: np.ndarray) -> np.ndarray:
    total = norm_dense + norm_moe
    return np.where(total > 0, norm_dense / np.where(total > 0, total, 1), 0.5)


def latent_classes(r: np.ndarray, density: np.ndarray, n_shared: int,
                   threshold: float) -> np.ndarray:
    """Class of each latent, (L,) of str."""
    out = np.where(r >= 1 - threshold, "dense-only",
                   np.where(r <= threshold, "moe-only", "shared")).astype(object)
    out[:n_shared] = "shared"
    out[density <= 0] = "dead"
    return out


def cosines(vectors: np.ndarray, decoders: np.ndarray) -> np.ndarray:
    """(n, L) cosine of each vector (n, d) with each decoder row (L, d); 0 for a zero row."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-30)
    d = decoders / np.maximum(np.linalg.norm(decoders, axis=-1, keepdims=True), 1e-30)
    return v @ d.T


def best_match(vectors: np.ndarray, decoders: np.ndarray, alive: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vector: its norm, the best cosine over live latents and that latent (-1: none)."""
    norm = np.linalg.norm(vectors, axis=-1)
    cos = np.where(alive[None, :], cosines(vectors, decoders), -np.inf)
    latent = cos.argmax(-1) if cos.shape[1] else np.zeros(len(vectors), dtype=int)
    best = cos.max(-1) if cos.shape[1] else np.full(len(vectors), -np.inf)
    has = (norm >= NO_DIRECTION) & np.isfinite(best)
    return norm, np.where(has, best, np.nan), np.where(has, latent, -1)


def recovery(dec_dense: np.ndarray, dec_moe: np.ndarray, classes: np.ndarray,
             dense_dirs: np.ndarray, moe_dirs: np.ndarray, moe_W: np.ndarray) -> dict:
    """Rows of one crosscoder's recovery table. dense_dirs (n, dA) and moe_dirs (n, dB): the
    features' directions in each space; moe_W (E, m, n): the MoE's expert weights, whose
    blocks line up with the MoE decoders' (E·m = dB)."""
    alive = classes != "dead"
    E, m, n = moe_W.shape
    parts = [("dense", None, dense_dirs, dec_dense), ("moe", None, moe_dirs, dec_moe)]
    parts += [("moe", e, moe_W[e].T, dec_moe[:, e * m:(e + 1) * m]) for e in range(E)]
    cols: dict[str, list] = {k: [] for k in ("feature", "model", "expert", "norm",
                                             "represented", "cosine", "latent",
                                             "latent_class")}
    for model, expert, dirs, dec in parts:
        norm, cos, latent = best_match(dirs, dec, alive)
        cols["feature"] += list(range(n))
        cols["model"] += [model] * n
        cols["expert"] += [expert] * n
        cols["norm"] += norm.tolist()
        cols["represented"] += (norm >= REPRESENTED).tolist()
        cols["cosine"] += cos.tolist()
        cols["latent"] += [None if j < 0 else int(j) for j in latent]
        cols["latent_class"] += [None if j < 0 else str(classes[j]) for j in latent]
    return cols


def mcc(norm: np.ndarray, cosine: np.ndarray) -> float:
    """Mean best cosine over the represented features (NaN when the model has none)."""
    keep = (norm >= REPRESENTED) & np.isfinite(cosine)
    return float(cosine[keep].mean()) if keep.any() else float("nan")


def decoder_cosine(dec_dense: np.ndarray, dec_moe: np.ndarray) -> np.ndarray:
    """Cosine between a latent's two decoders where the spaces have one width (1 for tied
    latents), else NaN: the same vector means the same thing only in a common basis."""
    if dec_dense.shape[-1] != dec_moe.shape[-1]:
        return np.full(dec_dense.shape[0], np.nan)
    na, nb = np.linalg.norm(dec_dense, axis=-1), np.linalg.norm(dec_moe, axis=-1)
    dot = (dec_dense * dec_moe).sum(-1)
    return np.where((na > 0) & (nb > 0), dot / np.maximum(na * nb, 1e-30), np.nan)
