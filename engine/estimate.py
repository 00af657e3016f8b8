"""How much memory, disk and time an experiment needs, known before anything is allocated.

`moelab run`, `moelab queue` and the service's submit ask `check_fits(cfg)` before expanding
the sweep: a config that cannot fit this machine (model.n_features = 1000000 wanted 21.8 TiB
after 50 s; seeds = 1e9 would build a billion run specs) is refused at once with one line
giving the estimate and the limit; one that would train for more than a day asks first (or
takes `--yes`). The numbers are estimates, within a small factor: the same cost model as
the planner's (sample-ops, about 5e9 a second on 2 CPU cores) and the largest shape of the
sweep for memory. Standard library only, and no sweep expansion: it must answer in
milliseconds for a 4-million-model sweep.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .config import Config, ConfigError

MAX_MODELS = 1_000_000  # runs one experiment may hold (planning keeps a spec of each)
MAX_POINTS = 100_000  # sweep shapes looked at one by one; more are extrapolated
DAY = 86_400.0
MAX_SECONDS = 365 * DAY  # refused even with --yes: nothing should train for a year
SAMPLE_OPS_PER_CORE = 2.5e9  # the planner's 5e9 sample-ops/s on 2 cores, per core
GPU_SPEEDUP = 20.0  # assumed when a CUDA device will train; a rough guide only
_PER_SAMPLE_OVERHEAD = 64
_BYTES_PER_MODEL = 4096  # the run's spec, its rows and summaries while planned and stored
_ACTIVATION_CAP = 1 << 26  # elements; the planner splits shape batches below it
# The fields the cost depends on; other sweep axes (sparsity, importance, lr) only multiply.
_SHAPE = ("model.n_features", "model.d_hidden", "model.n_experts", "model.k",
          "train.batch_size", "train.eval_samples", "train.steps", "train.seeds",
          "train.log_every")


class TooBig(ConfigError):
    """The experiment cannot fit this machine, or needs a confirmation it did not get."""

    def __init__(self, message: str):
        super().__init__([message])


@dataclass(frozen=True)
class Estimate:
    n_models: int
    memory: float  # bytes at the peak of training one batch of models
    disk: float  # bytes stored in the database
    seconds: float
    device: str  # "cpu" or "gpu": which speed the time assumes

    def line(self) -> str:
        return (f"{self.n_models:,} models, about {human_bytes(self.memory)} of memory, "
                f"{human_bytes(self.disk)} on disk, {human_time(self.seconds)} on {self.device}")


def estimate(cfg: Config) -> Estimate:
    other = _other_axes_size(cfg)
    gpu = _gpu_trains(cfg)
    rate = SAMPLE_OPS_PER_CORE * (os.cpu_count() or 1) * (GPU_SPEEDUP if gpu else 1.0)
    n_points = _shape_point_count(cfg)
    looked = min(n_points, MAX_POINTS)  # beyond it, the first ones stand for the rest
    seeds = seconds = disk = memory = 0.0
    for p in itertools.islice(_shape_points(cfg), looked):
        runs = other * p["train.seeds"]
        seeds += p["train.seeds"]
        seconds += runs * p["train.steps"] * p["train.batch_size"] * _sample_ops(p) / rate
        disk += runs * _stored_bytes(p)
        memory = max(memory, _training_bytes(p, runs))
    scale = n_points / max(looked, 1)
    n_models = round(other * seeds * scale)
    memory += n_models * _BYTES_PER_MODEL
    return Estimate(n_models, memory, disk * scale, seconds * scale, "gpu" if gpu else "cpu")


def check_fits(cfg: Config, db_dir: str | os.PathLike | None = None, yes: bool = False,
               confirm: Callable[[Estimate], bool] | None = None) -> Estimate:
    """The estimate, or TooBig: over MAX_MODELS, this machine's memory, the database's free
    disk, a year of training; or over a day without `yes` or a True from confirm()."""
    est = estimate(cfg)
    if est.n_models > MAX_MODELS:
        raise TooBig(f"this experiment has {est.n_models:,} models; the lab trains at most "
                     f"{MAX_MODELS:,} in one experiment: split the sweep")
    limit = memory_limit()
    if est.memory > limit:
        raise TooBig(f"this experiment needs about {human_bytes(est.memory)} of memory to "
                     f"train ({est.line()}); this machine has {human_bytes(limit)}: use "
                     "fewer or smaller models, a smaller batch_size or eval_samples")
    if db_dir is not None:
        free = shutil.disk_usage(db_dir).free
        if est.disk > free:
            raise TooBig(f"this experiment would store about {human_bytes(est.disk)}; "
                         f"{db_dir} has {human_bytes(free)} free")
    if est.seconds > MAX_SECONDS:
        raise TooBig(f"this experiment would train for about {human_time(est.seconds)} "
                     f"({est.line()}); the lab refuses anything over a year")
    if est.seconds > DAY and not yes and not (confirm and confirm(est)):
        raise TooBig(f"this experiment would train for about {human_time(est.seconds)} "
                     f"({est.line()}), over a day: pass --yes to start it anyway")
    return est


def memory_limit() -> float:
    """Bytes this machine (or its cgroup) offers a process: 90% of the smaller."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            text = fh.read().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return 0.9 * total


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def human_time(seconds: float) -> str:
    for size, unit in ((365 * DAY, "years"), (DAY, "days"), (3600, "hours"), (60, "minutes")):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.0f} seconds"


# ---------------------------------------------------------------- the cost model

def _sample_ops(p: dict) -> float:
    return (p["model.k"] * p["model.d_hidden"] * p["model.n_features"] * 2
            + p["model.n_experts"] * p["model.n_features"] + _PER_SAMPLE_OVERHEAD)


def _training_bytes(p: dict, runs: int) -> float:
    """Peak bytes while one shape batch trains and is summarised."""
    n, m, e, k = (p[f"model.{f}"] for f in ("n_features", "d_hidden", "n_experts", "k"))
    batch, evals = p["train.batch_size"], p["train.eval_samples"]
    widest = max(n, e * m)
    together = max(1, min(runs, _ACTIVATION_CAP // max(1, batch * widest)))
    params = e * m * n + 2 * e * n
    per_model = (4 * 4 * params  # weights, gradients, two Adam moments (float32)
                 + 4 * batch * (n * (k + 3) + e + k * m)  # one step's data and activations
                 + 8 * 2 * e * n * n)  # Gram matrices of the summary (float64)
    shared = 4 * 2 * evals * n  # one evaluation set that every model of the batch reads
    return together * per_model + shared


def _stored_bytes(p: dict) -> float:
    n, m, e = p["model.n_features"], p["model.d_hidden"], p["model.n_experts"]
    metrics = p["train.steps"] // max(1, p["train.log_every"])
    return 4 * (e * m * n + 2 * e * n) + 120 * n * (e + 1) + 40 * metrics + 1024


def _shape_axes(cfg: Config) -> list[tuple[str, list]]:
    base = {key: _get(cfg, key) for key in _SHAPE}
    return [(k, [v for v in vals if _is_count(v)] or [base[k]])
            for k, vals in cfg.sweep.axes if k in _SHAPE]


def _shape_point_count(cfg: Config) -> int:
    return len(cfg.sweep.variants or ((),)) * math.prod(len(v) for _, v in _shape_axes(cfg))


def _shape_points(cfg: Config) -> Iterator[dict]:
    """The cost fields of each sweep point, over variants × the axes that change them."""
    base = {key: _get(cfg, key) for key in _SHAPE}
    axes = _shape_axes(cfg)
    for variant in cfg.sweep.variants or ((),):
        point = dict(base)
        point.update({k: v for k, v in variant if k in _SHAPE and _is_count(v)})
        if dict(variant).get("model.kind") == "dense" and "model.n_experts" not in dict(variant):
            point["model.n_experts"] = point["model.k"] = 1
        for combo in itertools.product(*(vals for _, vals in axes)):
            yield {**point, **dict(zip((k for k, _ in axes), combo, strict=True))}


def _other_axes_size(cfg: Config) -> int:
    return math.prod(len(vals) for k, vals in cfg.sweep.axes if k not in _SHAPE)


def _get(cfg: Config, key: str) -> int:
    section, field = key.split(".")
    value = getattr(getattr(cfg, section), field)
    return value if _is_count(value) else 1


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _gpu_trains(cfg: Config) -> bool:
    if cfg.train.device == "cpu":
        return False
    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl")
