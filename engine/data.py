"""Synthetic sparse features (SPEC: Data): x_i = 0 with probability S, else U[0, 1]."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
    """The training data stream of one batch of runs, feature-major (inst, n_features, batch)
    as the kernel wants it, refilled in place (no allocation per step).

    Same distribution as `sample`, drawn differently for speed: from uniforms u, x_i =
    max(0, 1 − u/p_i), which is 0 with probability 1 − p_i and otherwise uniform on (0, 1].
    On CPU the uniforms come from two NumPy SFC64 streams that fill the two halves of a
    block of instances in parallel threads (NumPy releases the GIL), several times faster
    than torch.rand's single-threaded Mersenne Twister. The streams are seeded by `seed`
    alone, so the same seed and the same blocks give the same data.
    """

    def __init__(self, p: torch.Tensor, last_scale: torch.Tensor, batch: int, seed: int):
        n_inst, n_features = p.shape
        self.device = p.device
        self.shape = (n_inst, n_features, batch)
        scale = last_scale.detach().cpu().numpy().astype(np.float32)
        self.last_scale = scale if bool((scale != 1).any()) else None
        self.neg_inv_p = (-1.0 / p.detach().cpu().double().numpy()).astype(np.float32)[:, :, None]
        if self.device.type == "cpu":
            self.x = np.empty(self.shape, dtype=np.float32)
            self.xt = torch.from_numpy(self.x)
            self.gens = [np.random.Generator(np.random.SFC64([int(seed), j])) for j in (0, 1)]
            self.pool = ThreadPoolExecutor(2)
        else:
            self.gen = torch.Generator(device=self.device).manual_seed(int(seed))
            self.xt = torch.empty(self.shape, device=self.device)
            self.neg_inv_p_t = torch.from_numpy(self.neg_inv_p).to(self.device)
            self.pool = None

    def _fill(self, j: int, i0: int, i1: int) -> None:
        x = self.x[i0:i1]
        self.gens[j].random(dtype=np.float32, out=x)
        np.multiply(x, self.neg_inv_p[i0:i1], out=x)
        np.add(x, np.float32(1), out=x)
        np.maximum(x, np.float32(0), out=x)
        if self.last_scale is not None:
            x[:, -1] *= self.last_scale[i0:i1, None]

    def draw(self, i0: int = 0, i1: int | None = None) -> torch.Tensor:
        """Fresh x for instances i0:i1, (i1 − i0, n_features, batch)."""
        i1 = self.shape[0] if i1 is None else i1
        if self.pool is None:
            x = self.xt[i0:i1]
            torch.rand(x.shape, generator=self.gen, device=self.device, out=x)
            x.mul_(self.neg_inv_p_t[i0:i1]).add_(1).relu_()
            if self.last_scale is not None:
                x[:, -1] *= torch.from_numpy(self.last_scale[i0:i1, None]).to(self.device)
            return x
        if i1 - i0 == 1:
            self._fill(0, i0, i1)
        else:
            mid = (i0 + i1) // 2
            jobs = [self.pool.submit(self._fill, 0, i0, mid),
                    self.pool.submit(self._fill, 1, mid, i1)]
            for job in jobs:
                job.result()
        return self.xt[i0:i1]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)
