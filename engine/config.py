"""Frozen, validated experiment configs: [model] [data] [train] [sweep].

Every problem in a config is collected and reported at once (ConfigError), in plain words,
so a user fixes a TOML file in one pass instead of one error per run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any

KINDS = ("dense", "moe")
GATINGS = ("renorm", "switch")  # renorm: the paper's; switch: chosen expert scaled by raw g_e
ROUTER_INITS = ("xavier", "zeros", "diagonal", "ordered_khot", "random_khot")
BIAS_INITS = ("zeros", "xavier")
# authors: xavier over the stacked (E, n, m) expert tensor, std = sqrt(2 / (m·(n + E)));
# per_expert: xavier of each (m, n) matrix on its own, std = sqrt(2 / (n + m))
EXPERT_INITS = ("authors", "per_expert")
TIE_BREAKS = ("lowest", "random")  # who wins a routing tie (an all-zero input ties every expert)
SELECTS = ("best", "all")
# Beyond these the float32 training overflows to inf/NaN at the first step.
MAX_LR = 100.0
MAX_MAGNITUDE = 1e6
REDUCTIONS = ("sum", "mean")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A user mistake in a config; the message is one line listing every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


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

    def importance_key(self) -> str:
        return json.dumps(self.importance, sort_keys=True, default=list)


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


@dataclass(frozen=True)
class SweepConfig:
    # "section.field" -> values; the grid is the product of every axis.
    axes: tuple = ()  # tuple of (key, tuple(values))
    # Each variant is a tuple of (key, value) overrides applied before the grid (zipped axes,
    # e.g. dense m=6 vs MoE E=2 m=3 in one experiment).
    variants: tuple = ()

    def problems(self) -> list[str]:
        p = []
        for key, values in self.axes:
            p += _key_problems(f"sweep axis {key}", key)
            if len(values) == 0:
                p.append(f"sweep axis {key} has no values")
        for variant in self.variants:
            for key, _ in variant:
                p += _key_problems(f"sweep variant field {key}", key)
        return p


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    name: str = "experiment"

    def problems(self) -> list[str]:
        return (self.model.problems() + self.data.problems(self.model.n_features)
                + self.train.problems() + self.sweep.problems())

    def validated(self) -> Config:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
        return self

    def to_dict(self) -> dict:
        d = {s: _plain(dataclasses.asdict(getattr(self, s))) for s in SECTIONS}
        d["sweep"] = {
            "axes": {k: list(v) for k, v in self.sweep.axes},
            "variants": [dict(v) for v in self.sweep.variants],
        }
        d["name"] = self.name
        return d

    def to_json(self) -> str:
        # Unsorted: the order of sweep axes is the order of the runs, so a stored config
        # rebuilt later (the service's queue) must keep it.
        return json.dumps(self.to_dict(), default=_plain)


SECTIONS = ("model", "data", "train")
_SECTION_TYPES = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}
FIELD_NAMES = {s: {f.name for f in fields(t)} for s, t in _SECTION_TYPES.items()}


# ---------------------------------------------------------------- building configs

def parse_value(text: str) -> Any:
    """Parse a --set/--sweep VALUE as TOML; a bare word falls back to a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text and all(c.isalnum() or c in "_-." for c in text):
            return text
        raise ConfigError([f"cannot read value {text!r}; write it as TOML "
                           "(numbers, \"strings\", [lists], { tables })"]) from None


def _parse_list(text: str) -> list:
    """V1,V2,... as TOML; bare words allowed (model.gating=renorm,switch)."""
    try:
        return tomllib.loads(f"v = [{text}]")["v"]
    except tomllib.TOMLDecodeError:
        pass
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [parse_value(p.strip()) for p in [*parts, cur]]


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError([f"{flag} {text!r} needs the form section.field=VALUE"])
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def from_dict(raw: dict, name: str = "experiment") -> Config:
    """Build a validated Config from a TOML-shaped dict; every problem is reported at once."""
    problems: list[str] = []
    sections: dict[str, dict] = {}
    for section, table in raw.items():
        if section == "name":
            name = str(table)
            continue
        if section not in (*SECTIONS, "sweep"):
            problems.append(f"unknown section [{section}]; sections are [model] [data] "
                            "[train] [sweep]")
            continue
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        sections[section] = table
    kwargs = {}
    for section in SECTIONS:
        table = sections.get(section, {})
        known = {}
        for key, value in table.items():
            if key not in FIELD_NAMES[section]:
                problems.append(_unknown_field(section, key))
            else:
                known[key] = _freeze(value)
        kwargs[section] = known
    sweep, sweep_problems = _sweep_from(sections.get("sweep", {}))
    problems += sweep_problems
    if problems:
        raise ConfigError(problems)
    try:
        cfg = Config(
            model=ModelConfig(**kwargs["model"]),
            data=DataConfig(**kwargs["data"]),
            train=TrainConfig(**kwargs["train"]),
            sweep=sweep,
            name=name,
        )
    except TypeError as e:  # pragma: no cover - guarded by the field check above
        raise ConfigError([str(e)]) from None
    return cfg.validated()


def load_toml(path) -> dict:
    if os.path.isdir(path):
        raise ConfigError([f"config {path} is a folder; give a TOML file"])
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the read
        raise ConfigError([f"config {path} is not a regular file; give a TOML file"])
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"config file {path} does not exist"]) from None
    except OSError as e:
        raise ConfigError([f"cannot read config {path}: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path} is not UTF-8 text; a TOML config must be UTF-8"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: TOML syntax error: {e}"]) from None


def with_overrides(raw: dict, sets: list[str] = (), sweeps: list[str] = ()) -> dict:
    """Apply --set section.field=VALUE and --sweep section.field=V1,V2 to a raw config dict."""
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    for text in sets:
        key, value = parse_assignment(text, "--set")
        _check_key(key, "--set")
        section, fld = key.split(".", 1)
        raw.setdefault(section, {})[fld] = parse_value(value)
    for text in sweeps:
        key, value = parse_assignment(text, "--sweep")
        _check_key(key, "--sweep")
        values = _parse_list(value)
        raw.setdefault("sweep", {})[key] = values
    return raw


# ---------------------------------------------------------------- helpers

SNAPSHOT_SPACINGS = ("log", "linear")


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


def _sweep_from(table: dict) -> tuple[SweepConfig, list[str]]:
    problems = []
    axes = []
    variants = ()
    for key, values in table.items():
        if key == "variants":
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                problems.append("sweep.variants must be a list of tables of overrides")
                continue
            variants = tuple(
                tuple(sorted((_flat_key(k, v)) for k, v in _flatten(var).items()))
                for var in values)
            continue
        if "." not in key and isinstance(values, dict):
            # [sweep.data] sparsity = [...] nested form
            for sub, vals in values.items():
                axes.append((f"{key}.{sub}", vals))
            continue
        axes.append((key, values))
    frozen_axes = []
    for key, values in axes:
        if not isinstance(values, list):
            problems.append(f"sweep axis {key} must be a list of values")
            continue
        problems += _key_problems(f"sweep axis {key}", key)
        frozen_axes.append((key, tuple(_freeze(v) for v in values)))
    return SweepConfig(axes=tuple(frozen_axes), variants=variants), problems


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k in SECTIONS:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _flat_key(k, v):
    return (k, _freeze(v))


def _key_problems(what: str, key: str) -> list[str]:
    if key.count(".") != 1:
        return [f"{what}: name a field as section.field, e.g. data.sparsity"]
    section, fld = key.split(".")
    if section not in SECTIONS:
        return [f"{what}: unknown section [{section}]; use model, data or train"]
    if fld not in FIELD_NAMES[section]:
        return [_unknown_field(section, fld)]
    return []


def _check_key(key: str, flag: str) -> None:
    problems = _key_problems(f"{flag} {key}", key)
    if problems:
        raise ConfigError(problems)


def _unknown_field(section: str, key: str) -> str:
    known = ", ".join(sorted(FIELD_NAMES[section]))
    return f"unknown field {section}.{key}; [{section}] fields are: {known}"


def _freeze(value: Any) -> Any:
    """Lists become tuples so configs stay hashable and immutable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_min(name: str, v, lo: int) -> list[str]:
    if not _is_int(v):
        return [f"{name} must be a whole number (got {_show(v)})"]
    if v < lo:
        return [f"{name} must be at least {lo} (got {v})"]
    return []


def _choice(name: str, v, options) -> list[str]:
    if v not in options:
        return [f"{name} = {_show(v)} is not one of: {', '.join(options)}"]
    return []


def _show(v) -> str:
    return json.dumps(_plain(v)) if not isinstance(v, str) else repr(v)
