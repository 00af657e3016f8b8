"""Initial weights of a run, and the key of its routing-tie stream.

A run's start depends on its seed and on its own sweep point, never on what else trains
beside it: the generator is seeded from a hash of the run's model and data settings and its
seed (init_key), so a run starts the same alone, inside any sweep, in any unit or batch, and
two sweep points with the same seed do not share their initial weights. Train settings
(steps, lr, batch size, load balancing, device) are left out of the key on purpose: runs
that differ only in how they train start from the same weights, a controlled comparison.

Expert weights (SPEC, Inits): "authors" draws xavier-normal over the stacked (E, n, m)
expert tensor as the authors' code does, std = sqrt(2 / (m·(n + E))); "per_expert" treats
each (m, n) matrix on its own, std = sqrt(2 / (n + m)). Router and bias: xavier over (E, n).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from .config import ModelConfig
from .config_sections import plain

_MASK64 = (1 << 64) - 1


def expert_std(model: ModelConfig) -> float:
    """The standard deviation of every entry of W under the model's expert_init."""
    E, m, n = model.n_experts, model.d_hidden, model.n_features
    if model.expert_init == "authors":
        return (2.0 / (m * (n + E))) ** 0.5
    return (2.0 / (n + m)) ** 0.5


def init_key(run) -> int:
    """64-bit key of a run's initial weights: its model and data settings and its seed."""
    ident = json.dumps({"model": plain(run.model), "data": plain(run.data),
                        "seed": int(run.seed)},
                       sort_keys=True, default=list)
    return int.from_bytes(hashlib.blake2b(ident.encode(), digest_size=8).digest(), "little")


def tie_key(run) -> int:
    """Key of the run's routing-tie stream: 0 means ties go to the lowest-numbered experts
    (tie_break = "lowest"); any other value seeds a random choice per sample and step."""
    if run.model.tie_break == "lowest":
        return 0
    return ((init_key(run) * 0x9E3779B97F4A7C15) & _MASK64) | 1  # nonzero, unlike the init's


def init_run(run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W (E, m, n), b (E, n), router (E, n)) of one run: see the module docstring."""
    return init_instance(run.model, run.seed, key=init_key(run))


def init_instance(model: ModelConfig, seed: int, key: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One instance's (W, b, router) from `key` (default: the seed alone, as before keyed
    inits; training uses init_run)."""
    E, m, n = model.n_experts, model.d_hidden, model.n_features
    key = int(seed) if key is None else int(key)
    g = torch.Generator().manual_seed(key & _MASK64)
    W = torch.randn(E, m, n, generator=g) * expert_std(model)
    if model.bias_init == "xavier":
        b = torch.randn(E, n, generator=g) * (2.0 / (E + n)) ** 0.5
    else:
        b = torch.zeros(E, n)
    router = _router_init(model, g, key)
    return W.numpy(), b.numpy(), router


def _router_init(model: ModelConfig, g: torch.Generator, key: int) -> np.ndarray:
    E, n = model.n_experts, model.n_features
    kind = model.router_init
    if isinstance(kind, tuple):
        return np.asarray(kind, dtype=np.float32)
    if kind == "xavier":
        return (torch.randn(E, n, generator=g) * (2.0 / (E + n)) ** 0.5).numpy()
    r = np.zeros((E, n), dtype=np.float32)
    if kind == "diagonal":
        d = min(E, n)
        r[np.arange(d), np.arange(d)] = 1.0
    elif kind in ("ordered_khot", "random_khot"):
        order = np.arange(n)
        if kind == "random_khot":
            order = np.random.default_rng([key & 0xFFFFFFFF, key >> 32, 11]).permutation(n)
        for e, block in enumerate(np.array_split(order, E)):
            r[e, block] = 1.0
    return r
