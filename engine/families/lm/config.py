"""The lm family's config: a small decoder-only transformer, its text, its training.

A stored lm config is JSON with a top-level "family" = "lm" and four tables:
  [model]  n_layers, d_model, n_heads, context, d_mlp, vocab_size; n_experts (1 = dense), k,
           gating (renorm | switch, the toy family's), router_init (xavier | zeros)
  [data]   domains (built-in: code, docs, data; or names given in files), chars (training
           characters per domain, at most), heldout (the share of documents held out),
           files (name -> a text file or a folder of them: corpora of your own)
  [train]  steps, batch_size (sequences of `context` tokens), lr, weight_decay, lb_coef,
           seed, seeds, snapshots (a count, log-spaced from step 0, or a list of steps),
           eval_tokens (held-out tokens per domain), log_every, device
  [sweep]  variants: a list of {"model": {...}} overrides, one model each (lm-pair: dense, MoE)
Equal active parameters, one field apart: an MoE expert is d_mlp / k wide, so k chosen
experts hold as many MLP weights per token as the dense MLP (n_experts = 1) of width d_mlp;
the router adds n_experts x d_model weights per layer.
Frozen and validated at construction; every problem at once, in one line (ConfigError).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields

from ...config import DEVICES, ConfigError
from ...config_checks import _choice, _int_min, _is_int, _is_num, _show, train_basics

FAMILY = "lm"
BUILTIN_DOMAINS = ("code", "docs", "data")
GATINGS = ("renorm", "switch")
ROUTER_INITS = ("xavier", "zeros")
MIN_VOCAB = 260  # the 256 bytes of the byte-level alphabet, the end-of-text token, a few merges
MAX_VOCAB = 65_536  # token ids travel as uint16... and a bigger table is no small model
_MAX = {"n_layers": 64, "d_model": 4096, "n_heads": 64, "context": 8192, "d_mlp": 16_384,
        "n_experts": 256}


@dataclass(frozen=True)
class LMModel:
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    context: int = 64
    d_mlp: int = 256
    vocab_size: int = 1024
    n_experts: int = 1
    k: int = 1
    gating: str = "renorm"
    router_init: str = "xavier"

    @property
    def kind(self) -> str:
        return "dense" if self.n_experts == 1 else "moe"

    @property
    def d_expert(self) -> int:
        return self.d_mlp // self.k if _is_int(self.k) and self.k > 0 else self.d_mlp

    def problems(self, where: str = "model") -> list[str]:
        p = []
        for name, hi in _MAX.items():
            p += _int_range(f"{where}.{name}", getattr(self, name), 1, hi)
        p += _int_min(f"{where}.k", self.k, 1)
        if _is_int(self.vocab_size) and not MIN_VOCAB <= self.vocab_size <= MAX_VOCAB:
            p.append(f"{where}.vocab_size = {self.vocab_size} is out of range: the tokenizer "
                     f"needs {MIN_VOCAB} to {MAX_VOCAB} tokens")
        elif not _is_int(self.vocab_size):
            p.append(f"{where}.vocab_size must be a whole number (got {_show(self.vocab_size)})")
        if not p and self.d_model % self.n_heads:
            p.append(f"{where}.d_model = {self.d_model} must be a multiple of n_heads = "
                     f"{self.n_heads}")
        if not p and self.k > self.n_experts:
            p.append(f"{where}.k = {self.k} is more than n_experts = {self.n_experts}")
        if not p and self.d_mlp % self.k:
            p.append(f"{where}.d_mlp = {self.d_mlp} must be a multiple of k = {self.k} (an "
                     "expert is d_mlp / k wide, so dense and MoE have equal active weights)")
        if not p and self.context < 2:
            p.append(f"{where}.context must be at least 2 tokens")
        p += _choice(f"{where}.gating", self.gating, GATINGS)
        p += _choice(f"{where}.router_init", self.router_init, ROUTER_INITS)
        return p


@dataclass(frozen=True)
class LMData:
    domains: tuple[str, ...] = BUILTIN_DOMAINS
    chars: int = 300_000
    heldout: float = 0.1
    files: tuple[tuple[str, str], ...] = ()  # (domain name, path), sorted by name

    def problems(self) -> list[str]:
        p = []
        if not isinstance(self.domains, tuple) or not self.domains or \
                not all(isinstance(d, str) and d for d in self.domains):
            return ["data.domains must be a non-empty list of domain names (built-in: "
                    f"{', '.join(BUILTIN_DOMAINS)}; or the names of data.files)"]
        if len(set(self.domains)) != len(self.domains):
            p.append("data.domains names a domain twice")
        given = dict(self.files)
        for d in self.domains:
            if d not in BUILTIN_DOMAINS and d not in given:
                p.append(f"data.domains: unknown domain {d!r}; built-in: "
                         f"{', '.join(BUILTIN_DOMAINS)}, or give its text in data.files")
        for name, path in self.files:
            if not isinstance(path, str) or not path:
                p.append(f"data.files.{name} must be the path of a text file or folder")
        p += _int_range("data.chars", self.chars, 1000, 1 << 31)
        if not (_is_num(self.heldout) and 0 < self.heldout <= 0.5):
            p.append(f"data.heldout must be a share above 0 and at most 0.5 (got "
                     f"{_show(self.heldout)})")
        return p


@dataclass(frozen=True)
class LMTrain:
    steps: int = 500
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    lb_coef: float = 0.01
    seed: int = 0
    seeds: int = 1
    snapshots: int | tuple[int, ...] = 4
    eval_tokens: int = 8192
    log_every: int = 25
    device: str = "auto"

    def problems(self) -> list[str]:
        p = train_basics(self, ("steps", "batch_size", "seeds", "eval_tokens", "log_every"))
        for name in ("weight_decay", "lb_coef"):
            v = getattr(self, name)
            if not (_is_num(v) and v >= 0):
                p.append(f"train.{name} must be a number >= 0 (got {_show(v)})")
        if isinstance(self.snapshots, tuple):
            if not all(_is_int(s) and 0 <= s <= (self.steps if _is_int(self.steps) else s)
                       for s in self.snapshots):
                p.append("train.snapshots must be steps between 0 and train.steps")
        else:
            p += _int_range("train.snapshots", self.snapshots, 2, 1000)
        p += _choice("train.device", self.device, DEVICES)
        return p

    def snapshot_steps(self) -> list[int]:
        """Where held-out loss is measured and weights kept: step 0 and the last included."""
        if isinstance(self.snapshots, tuple):
            return sorted({0, self.steps, *self.snapshots})
        n = self.snapshots
        steps = {0, self.steps}
        for i in range(1, n - 1):  # log-spaced: training changes most at first
            steps.add(int(round(self.steps ** (i / (n - 1)))))
        return sorted(steps)


_SECTIONS = {"model": LMModel, "data": LMData, "train": LMTrain}


@dataclass(frozen=True)
class LMConfig:
    model: LMModel = field(default_factory=LMModel)
    data: LMData = field(default_factory=LMData)
    train: LMTrain = field(default_factory=LMTrain)
    variants: tuple[tuple[tuple[str, object], ...], ...] = ()  # model overrides, sorted items
    name: str = "lm"

    def models(self) -> list[LMModel]:
        """One model per variant (the base model when there are none)."""
        return [dataclasses.replace(self.model, **dict(v)) for v in self.variants] or \
            [self.model]

    def problems(self) -> list[str]:
        p = self.model.problems() + self.data.problems() + self.train.problems()
        for i, v in enumerate(self.variants):
            try:
                m = dataclasses.replace(self.model, **dict(v))
            except TypeError:
                known = ", ".join(f.name for f in fields(LMModel))
                p.append(f"sweep.variants[{i}]: a variant sets [model] fields ({known})")
                continue
            p += m.problems(f"sweep.variants[{i}].model")
        return p

    def to_dict(self) -> dict:
        d = {s: dataclasses.asdict(getattr(self, s)) for s in _SECTIONS}
        d["data"]["domains"] = list(self.data.domains)
        d["data"]["files"] = dict(self.data.files)
        if isinstance(self.train.snapshots, tuple):
            d["train"]["snapshots"] = list(self.train.snapshots)
        return {"family": FAMILY, "name": self.name, **d,
                "sweep": {"variants": [{"model": dict(v)} for v in self.variants]}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def from_dict(raw: dict, name: str | None = None) -> LMConfig:
    """A validated LMConfig from a TOML-shaped dict; every problem at once."""
    problems: list[str] = []
    kwargs: dict[str, dict] = {}
    variants: list = []
    for key, table in raw.items():
        if key in ("family", "name"):
            continue
        if key not in (*_SECTIONS, "sweep"):
            problems.append(f"unknown section [{key}]; an lm config has [model] [data] "
                            "[train] [sweep]")
        elif not isinstance(table, dict):
            problems.append(f"[{key}] must be a table")
        elif key == "sweep":
            extra = sorted(set(table) - {"variants"})
            if extra:
                problems.append(f"[sweep] of an lm config takes variants only (got "
                                f"{', '.join(extra)})")
            variants = table.get("variants") or []
        else:
            known = {f.name for f in fields(_SECTIONS[key])}
            for fld in sorted(set(table) - known):
                problems.append(f"unknown field {key}.{fld}; [{key}] fields are: "
                                f"{', '.join(sorted(known))}")
            kwargs[key] = {k: v for k, v in table.items() if k in known}
    frozen_variants = _variants(variants, problems)
    data = kwargs.get("data", {})
    if "domains" in data and isinstance(data["domains"], list):
        data["domains"] = tuple(data["domains"])
    if "files" in data:
        if isinstance(data["files"], dict):
            data["files"] = tuple(sorted(data["files"].items()))
        else:
            problems.append("data.files must be a table of domain name = path")
    snaps = kwargs.get("train", {}).get("snapshots")
    if isinstance(snaps, list):
        kwargs["train"]["snapshots"] = tuple(snaps)
    if problems:
        raise ConfigError(problems)
    cfg = LMConfig(**{s: t(**kwargs.get(s, {})) for s, t in _SECTIONS.items()},
                   variants=frozen_variants, name=str(name or raw.get("name") or "lm"))
    problems = cfg.problems()
    if problems:
        raise ConfigError(problems)
    return cfg


def from_json(text: str) -> LMConfig:
    return from_dict(json.loads(text))


def _variants(variants, problems: list[str]) -> tuple:
    if not isinstance(variants, list):
        problems.append("sweep.variants must be a list of {model = {...}} tables")
        return ()
    out = []
    for i, v in enumerate(variants):
        if not isinstance(v, dict) or set(v) - {"model"} or \
                not isinstance(v.get("model", {}), dict):
            problems.append(f"sweep.variants[{i}] must be a table {{model = {{...}}}}")
            continue
        out.append(tuple(sorted(v.get("model", {}).items())))
    return tuple(out)


def _int_range(name: str, v, lo: int, hi: int) -> list[str]:
    p = _int_min(name, v, lo)
    if not p and v > hi:
        p.append(f"{name} must be at most {hi} (got {v})")
    return p
