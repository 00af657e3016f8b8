"""The [model] [data] [train] sections: frozen dataclasses, each listing its own problems, and
the section.field names that --set, --sweep and sweep axes may address."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from .config_checks import MAX_LR, MAX_MAGNITUDE, _choice, _int_min, _is_int, _is_num, _show

KINDS = ("dense", "moe")
GATINGS = ("renorm", "switch")  # renorm: the paper's; switch: chosen expert scaled by raw g_e
ROUTER_INITS = ("xavier", "zeros", "diagonal", "ordered_khot", "random_khot")
BIAS_INITS = ("zeros", "xavier")
# authors: xavier over the stacked (E, n, m) expert tensor, std = sqrt(2 / (m·(n + E)));
# per_expert: xavier of each (m, n) matrix on its own, std = sqrt(2 / (n + m))
EXPERT_INITS = ("authors", "per_expert")
TIE_BREAKS = ("lowest", "random")  # who wins a routing tie (an all-zero input ties every expert)
SELECTS = ("best", "all")
REDUCTIONS = ("sum", "mean")
DEVICES = ("auto", "cpu", "cuda")
SNAPSHOT_SPACINGS = ("log", "linear")


def plain(section) -> dict:
    """dataclasses.asdict of a frozen section, computed once per object: a sweep's runs
    hash and store their sections several times each (keys, JSON), and asdict's deep copy
    was a tenth of a fig4 unit's per-run work. The dict is shared: read it, never change it."""
    cached = section.__dict__.get("_plain")
    if cached is None:
        cached = dataclasses.asdict(section)
        object.__setattr__(section, "_plain", cached)  # frozen: the fields never change
    return cached


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "moe"
    n_features: int = 20
    d_hidden: int = 5
    n_experts: int = 1
    k: int = 1
    gating: str = "renorm"
    router_init: str | tuple = "xavier"  # a name, or an explicit n_experts × n_features matrix
    bias_init: str = "zeros"
    expert_init: str = "authors"
    tie_break: str = "lowest"

    def problems(self) -> list[str]:
        p = []
        p += _choice("model.kind", self.kind, KINDS)
        p += _int_min("model.n_features", self.n_features, 1)
        p += _int_min("model.d_hidden", self.d_hidden, 1)
        p += _int_min("model.n_experts", self.n_experts, 1)
        p += _int_min("model.k", self.k, 1)
        if _is_int(self.k) and _is_int(self.n_experts) and self.k > self.n_experts:
            p.append(f"model.k = {self.k} is more than model.n_experts = {self.n_experts}; "
                     "use k <= n_experts")
        if self.kind == "dense" and (self.n_experts != 1 or self.k != 1):
            p.append("a dense model has n_experts = 1 and k = 1; use model.kind = \"moe\"")
        p += _choice("model.gating", self.gating, GATINGS)
        p += _choice("model.bias_init", self.bias_init, BIAS_INITS)
        p += _choice("model.expert_init", self.expert_init, EXPERT_INITS)
        p += _choice("model.tie_break", self.tie_break, TIE_BREAKS)
        if isinstance(self.router_init, tuple):
            shape_ok = len(self.router_init) == self.n_experts and all(
                isinstance(r, tuple) and len(r) == self.n_features for r in self.router_init)
            if shape_ok and not all(_is_num(v) and abs(v) <= MAX_MAGNITUDE
                                    for r in self.router_init for v in r):
                p.append("model.router_init as a matrix must hold numbers (between "
                         f"-{MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g})")
            if not shape_ok:
                p.append("model.router_init as a matrix must have n_experts rows of "
                         "n_features numbers")
        else:
            p += _choice("model.router_init", self.router_init, ROUTER_INITS)
        return p


@dataclass(frozen=True)
class DataConfig:
    sparsity: float | tuple = 0.9  # probability a feature is zero; scalar or one per feature
    importance: Any = "uniform"  # "uniform" | tuple of floats | {"decay": r, "permute": bool}
    last_importance: float = 1.0  # relative importance of the last feature (phase diagrams)
    last_scale: float = 1.0  # x_n <- last_scale * x_n

    def problems(self, n_features: int) -> list[str]:
        p = []
        sp = self.sparsity if isinstance(self.sparsity, tuple) else (self.sparsity,)
        if isinstance(self.sparsity, tuple) and _is_int(n_features) and len(sp) != n_features:
            p.append(f"data.sparsity has {len(sp)} values but there are {n_features} features; "
                     "give one value or one per feature")
        if not all(_is_num(s) and 0 <= s < 1 for s in sp):
            p.append(f"data.sparsity must be in [0, 1) (got {_show(self.sparsity)}); "
                     "0.9 means a feature is zero 90% of the time")
        imp = self.importance
        if isinstance(imp, str):
            if imp != "uniform":
                p.append(f"data.importance = {imp!r} is unknown; use \"uniform\", a list, or "
                         "{ decay = 0.7 }")
        elif isinstance(imp, tuple):
            if _is_int(n_features) and len(imp) != n_features:
                p.append(f"data.importance has {len(imp)} values but there are {n_features} "
                         "features")
            if not all(_is_num(v) and v >= 0 for v in imp):
                p.append("data.importance values must be numbers >= 0 (a negative importance "
                         "rewards error)")
        elif isinstance(imp, dict):
            extra = set(imp) - {"decay", "permute"}
            if extra or "decay" not in imp:
                p.append("data.importance as a table takes decay (and optional permute), "
                         "e.g. { decay = 0.7, permute = true }")
            elif not (_is_num(imp["decay"]) and imp["decay"] > 0):
                p.append("data.importance.decay must be a number > 0")
            if not isinstance(imp.get("permute", False), bool):
                p.append("data.importance.permute must be true or false")
        else:
            p.append("data.importance must be \"uniform\", a list, or { decay = 0.7 }")
        if not (_is_num(self.last_importance) and self.last_importance >= 0):
            p.append("data.last_importance must be a number >= 0 (a negative importance "
                     "rewards error)")
        if not (_is_num(self.last_scale) and abs(self.last_scale) <= MAX_MAGNITUDE):
            p.append(f"data.last_scale must be a number between -{MAX_MAGNITUDE:g} and "
                     f"{MAX_MAGNITUDE:g} (got {_show(self.last_scale)}); larger overflows")
        if _is_num(self.last_importance) and self.last_importance > MAX_MAGNITUDE:
            p.append(f"data.last_importance must be at most {MAX_MAGNITUDE:g}; larger overflows")
        if isinstance(imp, tuple) and any(_is_num(v) and v > MAX_MAGNITUDE for v in imp):
            p.append(f"data.importance values must be at most {MAX_MAGNITUDE:g}")
        return p


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.01
    lb_coef: float = 0.0  # α of the Switch load-balancing loss
    feature_reduction: str = "sum"  # sum or mean over features in L_rec (authors' code differs)
    seed: int = 0
    seeds: int = 1
    select: str = "best"
    eval_samples: int = 10_000
    log_every: int = 100
    device: str = "auto"
    # W, b and router recorded at this many steps (0: off), step 0 and the last included
    snapshots: int = 0
    snapshot_spacing: str = "log"  # log: most change happens early; or linear
    # custom metrics computed for every run: ({name, target "module:function", options}, ...)
    metrics: tuple = ()

    def problems(self) -> list[str]:
        p = []
        p += _int_min("train.steps", self.steps, 1)
        p += _snapshot_problems(self)
        p += _metric_problems(self.metrics)
        p += _int_min("train.batch_size", self.batch_size, 1)
        p += _int_min("train.seeds", self.seeds, 1)
        p += _int_min("train.eval_samples", self.eval_samples, 1)
        p += _int_min("train.log_every", self.log_every, 1)
        p += _int_min("train.seed", self.seed, 0)
        if not (_is_num(self.lr) and 0 < self.lr <= MAX_LR):
            p.append(f"train.lr must be a number > 0 and at most {MAX_LR:g} "
                     f"(got {_show(self.lr)})")
        if not (_is_num(self.weight_decay) and self.weight_decay >= 0):
            p.append("train.weight_decay must be a number >= 0")
        if not (_is_num(self.lb_coef) and self.lb_coef >= 0):
            p.append("train.lb_coef must be a number >= 0")
        p += _choice("train.select", self.select, SELECTS)
        p += _choice("train.feature_reduction", self.feature_reduction, REDUCTIONS)
        p += _choice("train.device", self.device, DEVICES)
        return p


def _snapshot_problems(t: TrainConfig) -> list[str]:
    p = _choice("train.snapshot_spacing", t.snapshot_spacing, SNAPSHOT_SPACINGS)
    n = t.snapshots
    if not _is_int(n) or n < 0:
        return p + [f"train.snapshots must be a whole number >= 0 (got {_show(n)}); 0 is off"]
    if n == 1:
        p.append("train.snapshots = 1 cannot hold step 0 and the last; use 0 (off) or >= 2")
    elif _is_int(t.steps) and t.steps >= 1 and n > t.steps + 1:
        p.append(f"train.snapshots = {n} is more than the {t.steps + 1} steps 0..{t.steps} "
                 "there are; use at most train.steps + 1")
    return p


def _metric_problems(metrics) -> list[str]:
    if not isinstance(metrics, tuple):
        return ["train.metrics must be a list of { name, target = \"module:function\" }"]
    p, names = [], set()
    for m in metrics:
        ok = (isinstance(m, dict) and set(m) <= {"name", "target", "options", "path"}
              and isinstance(m.get("name"), str) and isinstance(m.get("target"), str)
              and m["target"].count(":") == 1 and isinstance(m.get("options", {}), dict)
              and isinstance(m.get("path", ""), str))
        if not ok:
            p.append(f"train.metrics entry {_show(m)} must be {{ name = \"NAME\", target = "
                     "\"module:function\" } with optional options = { ... }")
        elif m["name"] in names:
            p.append(f"train.metrics names {m['name']!r} twice")
        else:
            names.add(m["name"])
    return p


# ---------------------------------------------------------------- field names

SECTIONS = ("model", "data", "train")
_SECTION_TYPES = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}
FIELD_NAMES = {s: {f.name for f in fields(t)} for s, t in _SECTION_TYPES.items()}


def _key_problems(what: str, key: str) -> list[str]:
    if key.count(".") != 1:
        return [f"{what}: name a field as section.field, e.g. data.sparsity"]
    section, fld = key.split(".")
    if section not in SECTIONS:
        return [f"{what}: unknown section [{section}]; use model, data or train"]
    if fld not in FIELD_NAMES[section]:
        return [_unknown_field(section, fld)]
    return []


def _unknown_field(section: str, key: str) -> str:
    known = ", ".join(sorted(FIELD_NAMES[section]))
    return f"unknown field {section}.{key}; [{section}] fields are: {known}"
