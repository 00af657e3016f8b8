"""Synthetic sparse features (SPEC: Data): x_i = 0 with probability S, else U[0, 1]."""

from __future__ import annotations

import numpy as np
import torch

from . import torch_rng
from .config import DataConfig


def density(data: DataConfig, n_features: int) -> np.ndarray:
    """p = 1 - S per feature, shape (n_features,)."""
    s = np.broadcast_to(np.asarray(data.sparsity, dtype=np.float64), (n_features,))
    return 1.0 - s


def importance(data: DataConfig, n_features: int, seed: int) -> np.ndarray:
    """I_i per feature, with the last feature's relative importance applied, shape (n_features,).

    A permuted decay is shuffled by the run's seed (its own stream, so it does not depend on
    the model's shapes or on how parameters were drawn).
    """
    imp = data.importance
    if imp == "uniform":
        out = np.ones(n_features)
    elif isinstance(imp, dict):
        out = float(imp["decay"]) ** np.arange(n_features, dtype=np.float64)
        if imp.get("permute", False):
            out = np.random.default_rng([seed, 7]).permutation(out)
    else:
        out = np.asarray(imp, dtype=np.float64).copy()
    out[-1] *= data.last_importance
    return out


def sample(p: torch.Tensor, last_scale: torch.Tensor, batch: int,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw x of shape (inst, batch, n_features) for per-instance densities p (inst, n_features).

    One uniform per element: active if u < p, and then u / p is itself U[0, 1).
    """
    n_inst, n_features = p.shape
    u = torch.rand(n_inst, batch, n_features, generator=generator, device=p.device)
    return scale_last(_sparse_from_uniform(u, p[:, None, :]), last_scale)


def sample_shared(p: torch.Tensor, last_scale: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The same uniforms u (batch, n_features) for every instance: a common evaluation batch."""
    return scale_last(_sparse_from_uniform(u[None], p[:, None, :]), last_scale)


def _sparse_from_uniform(u: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return torch.where(u < p, u / p, torch.zeros((), device=u.device))


def scale_last(x: torch.Tensor, last_scale: torch.Tensor) -> torch.Tensor:
    if bool((last_scale != 1).any()):
        x = x.clone()
        x[..., -1] *= last_scale[:, None]
    return x


def sample_numpy(p: np.ndarray, last_scale: np.ndarray, n: int, seed: int) -> np.ndarray:
    """NumPy twin for metrics on stored weights: x of shape (inst, n, n_features), float32."""
    rng = np.random.default_rng(seed)
    u = rng.random((n, p.shape[-1]), dtype=np.float32)[None]  # shared across instances
    pp = p[:, None, :].astype(np.float32)
    x = np.where(u < pp, u / pp, np.float32(0))
    x[..., -1] *= np.asarray(last_scale, dtype=np.float32)[:, None]
    return x


class Sampler:
    """The torch trainer's data stream, feature-major (inst, n_features, batch) as the torch
    kernel wants it: x_i = max(0, 1 − u/p_i) from one uniform per element, 0 with
    probability 1 − p_i and otherwise uniform on (0, 1]. Instance i's uniforms are a hash of
    (keys[i], step, sample, feature) (engine/torch_rng.py), so a run's data depends on its
    key alone, not on the batch it trains in. (The CPU trainer draws the same distribution
    inside its compiled step, engine/cpu/rng.py.)"""

    def __init__(self, p: torch.Tensor, last_scale: torch.Tensor, batch: int, keys):
        n_inst, n_features = p.shape
        self.keys = torch_rng.keys_tensor(keys, p.device)
        self.pos = torch_rng.positions((n_features, batch), p.device)
        self.neg_inv_p = (-1.0 / p.double()).float()[:, :, None]
        self.scale = None  # (inst, n_features, 1): 1 but the last feature's last_scale
        if bool((last_scale != 1).any()):
            self.scale = torch.ones(n_inst, n_features, 1, device=p.device)
            self.scale[:, -1, 0] = last_scale
        self.calls = 0

    def draw(self, step: torch.Tensor | int | None = None) -> torch.Tensor:
        """The batch of training step `step` (a tensor in a compiled step; default: one more
        than the last call's)."""
        if step is None:
            self.calls += 1
            step = self.calls
        step = torch.as_tensor(step, dtype=torch.int64, device=self.keys.device)
        return draw_sparse(self.keys, self.pos, self.neg_inv_p, self.scale, step)


def draw_sparse(keys, pos, neg_inv_p, scale, step: torch.Tensor) -> torch.Tensor:
    """Sampler.draw as a pure function of tensors (it runs inside the compiled step)."""
    u = torch_rng.uniforms(torch_rng.step_keys(keys, step), pos)
    x = (u * neg_inv_p + 1).relu()
    return x if scale is None else x * scale
