"""Synthetic sparse features (SPEC: Data): x_i = 0 with probability S, else U[0, 1]."""

from __future__ import annotations

import numpy as np
import torch

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
    """The GPU trainer's data stream, feature-major (inst, n_features, batch) as the torch
    kernel wants it, refilled in place: x_i = max(0, 1 − u/p_i) from one uniform per
    element, 0 with probability 1 − p_i and otherwise uniform on (0, 1]. (The CPU trainer
    draws the same distribution inside its compiled step, engine/cpu/rng.py.)"""

    def __init__(self, p: torch.Tensor, last_scale: torch.Tensor, batch: int, seed: int):
        n_inst, n_features = p.shape
        self.gen = torch.Generator(device=p.device).manual_seed(int(seed))
        self.x = torch.empty((n_inst, n_features, batch), device=p.device)
        self.neg_inv_p = (-1.0 / p.double()).float()[:, :, None]
        self.last_scale = last_scale[:, None] if bool((last_scale != 1).any()) else None

    def draw(self) -> torch.Tensor:
        x = self.x
        torch.rand(x.shape, generator=self.gen, device=x.device, out=x)
        x.mul_(self.neg_inv_p).add_(1).relu_()
        if self.last_scale is not None:
            x[:, -1] *= self.last_scale
        return x
