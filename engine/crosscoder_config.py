"""The crosscoder family's config: which two toy runs to diff, the crosscoder, its training.

A stored crosscoder config is JSON with a top-level "family" = "crosscoder" (the service
picks the family from it) and three tables:
  [source]      dense_run + moe_run (two stored runs), or experiment (every MoE run of that
                experiment paired with its dense run of the same seed: the preset's form);
                for language models (lm runs) also layer (the residual stream after that
                block, 0-based; default the middle one) and tokens (held-out tokens read)
  [crosscoder]  n_latents, k (annealed from k_start), n_shared designated shared latents
                with decoders tied across the two spaces and shared_penalty x the sparsity
                penalty, auxk_alpha for dead latents, class_threshold for the classes
  [train]       steps, batch_size, lr, seed, seeds, eval_samples, log_every, device
Frozen and validated at construction; every problem is reported at once in one line
(ConfigError, as the toy config). Checks that need the store (do the runs exist, were they
trained on the same data) live in engine/families/crosscoder.py.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields

from .config import DEVICES, ConfigError
from .config_checks import _int_min, _is_int, _is_num, _show, train_basics

FAMILY = "crosscoder"
MAX_LATENTS = 1 << 16  # a dictionary this wide is far past any toy model's features


@dataclass(frozen=True)
class SourceConfig:
    dense_run: int | None = None
    moe_run: int | None = None
    experiment: int | None = None
    layer: int | None = None  # lm runs: residual after this block; None: (n_layers - 1) // 2
    tokens: int = 16_384  # lm runs: held-out tokens whose activations the crosscoder reads

    def problems(self) -> list[str]:
        p = []
        pair = (self.dense_run, self.moe_run)
        if self.experiment is None and None in pair:
            p.append("[source] needs dense_run and moe_run (two run ids), or experiment")
        if self.experiment is not None and pair != (None, None):
            p.append("[source] takes dense_run and moe_run, or experiment, not both")
        for name in ("dense_run", "moe_run", "experiment"):
            v = getattr(self, name)
            if v is not None:
                p += _int_min(f"source.{name}", v, 1)
        if self.layer is not None:
            p += _int_min("source.layer", self.layer, 0)
        p += _int_range("source.tokens", self.tokens, 64, 1 << 22)
        return p


@dataclass(frozen=True)
class CrosscoderSettings:
    n_latents: int = 64
    k: int = 2  # active latents per sample, on average over a batch (BatchTopK)
    k_start: int | None = None  # k anneals linearly from here; default min(4k, n_latents)
    anneal_frac: float = 0.3  # share of the steps over which k anneals
    n_shared: int = 8  # designated shared latents: the first n_shared
    shared_penalty: float = 0.15  # their sparsity penalty relative to the others' (authors)
    sparsity_coef: float = 0.01  # λ of λ Σ_l f_l (‖d_dense,l‖ + ‖d_moe,l‖)
    auxk_alpha: float = 1 / 32  # weight of the auxiliary-k loss on dead latents
    dead_steps: int = 200  # idle this many steps: in auxk (dead = never fires at evaluation)
    class_threshold: float = 0.1  # r ≥ 1 − t: dense-only; r ≤ t: MoE-only; else shared

    def problems(self) -> list[str]:
        p = []
        p += _int_range("crosscoder.n_latents", self.n_latents, 1, MAX_LATENTS)
        p += _int_min("crosscoder.k", self.k, 1)
        if _is_int(self.k) and _is_int(self.n_latents) and self.k > self.n_latents:
            p.append(f"crosscoder.k = {self.k} is more than crosscoder.n_latents = "
                     f"{self.n_latents}; use 1 <= k <= n_latents")
        if self.k_start is not None:
            p += _int_min("crosscoder.k_start", self.k_start, 1)
            if _is_int(self.k_start) and _is_int(self.k) and _is_int(self.n_latents) and \
                    not self.k <= self.k_start <= self.n_latents:
                p.append(f"crosscoder.k_start = {self.k_start} must be between k = {self.k} "
                         f"and n_latents = {self.n_latents} (k anneals down from it)")
        p += _int_min("crosscoder.n_shared", self.n_shared, 0)
        if _is_int(self.n_shared) and _is_int(self.n_latents) and \
                self.n_shared > self.n_latents:
            p.append(f"crosscoder.n_shared = {self.n_shared} is more than n_latents = "
                     f"{self.n_latents}")
        p += _unit("crosscoder.anneal_frac", self.anneal_frac)
        p += _unit("crosscoder.shared_penalty", self.shared_penalty)
        p += _nonneg("crosscoder.sparsity_coef", self.sparsity_coef)
        p += _nonneg("crosscoder.auxk_alpha", self.auxk_alpha)
        p += _int_min("crosscoder.dead_steps", self.dead_steps, 1)
        if not (_is_num(self.class_threshold) and 0 < self.class_threshold < 0.5):
            p.append("crosscoder.class_threshold must be between 0 and 0.5 (0.1: a latent is "
                     "dense-only when r >= 0.9)")
        return p

    @property
    def k_first(self) -> int:
        return self.k_start if self.k_start is not None else min(4 * self.k, self.n_latents)


@dataclass(frozen=True)
class CrosscoderTrain:
    steps: int = 3000
    batch_size: int = 1024
    lr: float = 3e-3
    seed: int = 0
    seeds: int = 1
    eval_samples: int = 10_000
    log_every: int = 100
    device: str = "auto"

    def problems(self) -> list[str]:
        p = train_basics(self, ("steps", "batch_size", "seeds", "eval_samples", "log_every"))
        if self.device not in DEVICES:
            p.append(f"train.device = {_show(self.device)} is not one of: {', '.join(DEVICES)}")
        return p


_SECTIONS = {"source": SourceConfig, "crosscoder": CrosscoderSettings,
             "train": CrosscoderTrain}


@dataclass(frozen=True)
class CrosscoderConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    crosscoder: CrosscoderSettings = field(default_factory=CrosscoderSettings)
    train: CrosscoderTrain = field(default_factory=CrosscoderTrain)
    name: str = "crosscoder"

    def problems(self) -> list[str]:
        return self.source.problems() + self.crosscoder.problems() + self.train.problems()

    def to_dict(self) -> dict:
        return {"family": FAMILY, "name": self.name,
                **{s: dataclasses.asdict(getattr(self, s)) for s in _SECTIONS}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def from_dict(raw: dict, name: str | None = None) -> CrosscoderConfig:
    """A validated CrosscoderConfig from a TOML-shaped dict; every problem at once."""
    problems: list[str] = []
    kwargs: dict[str, dict] = {}
    for key, table in raw.items():
        if key in ("family", "name"):
            continue
        if key not in _SECTIONS:
            problems.append(f"unknown section [{key}]; a crosscoder config has [source] "
                            "[crosscoder] [train]")
        elif not isinstance(table, dict):
            problems.append(f"[{key}] must be a table")
        else:
            known = {f.name for f in fields(_SECTIONS[key])}
            for fld in sorted(set(table) - known):
                problems.append(f"unknown field {key}.{fld}; [{key}] fields are: "
                                f"{', '.join(sorted(known))}")
            kwargs[key] = {k: v for k, v in table.items() if k in known}
    if problems:
        raise ConfigError(problems)
    cfg = CrosscoderConfig(**{s: t(**kwargs.get(s, {})) for s, t in _SECTIONS.items()},
                           name=str(name or raw.get("name") or "crosscoder"))
    problems = cfg.problems()
    if problems:
        raise ConfigError(problems)
    return cfg


def from_json(text: str) -> CrosscoderConfig:
    return from_dict(json.loads(text))


def _int_range(name: str, v, lo: int, hi: int) -> list[str]:
    p = _int_min(name, v, lo)
    if not p and v > hi:
        p.append(f"{name} must be at most {hi} (got {v})")
    return p


def _unit(name: str, v) -> list[str]:
    if not (_is_num(v) and 0 <= v <= 1):
        return [f"{name} must be a number between 0 and 1 (got {_show(v)})"]
    return []


def _nonneg(name: str, v) -> list[str]:
    if not (_is_num(v) and v >= 0):
        return [f"{name} must be a number >= 0 (got {_show(v)})"]
    return []
