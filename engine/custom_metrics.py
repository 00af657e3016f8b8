"""Your own metrics: a Python function f(run, **options) computed for runs.

`run` carries NumPy arrays W (n_experts × d_hidden × n_features), b and router
(n_experts × n_features; router is None for a dense model) and config (the run's config as
a dict), plus run_id when the run is stored. A function with an `inputs` parameter also
gets a fixed sample of the run's inputs (INPUT_SAMPLES × n_features). It returns a scalar,
one value per expert (n_experts,), one per feature (n_features,), or one per expert and
feature (n_experts × n_features); when n_experts = n_features a 1-D result is read per
feature: return {"expert": values} to say otherwise.

Registered metrics travel in the experiment's config (train.metrics), so the worker that
trains a unit computes them, wherever it runs (engine/families/toy.py). A metric that
raises (or returns the wrong shape) for a run stores nothing for that run and leaves one
line in custom_metric_errors. Modules load through engine/usercode.py: never from a folder
or file that another user owns or can write, and from source, never a bytecode cache.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

INPUT_SAMPLES = 1024
INPUT_SEED = 20250106


class MetricError(ValueError):
    """A metric that cannot be used: its module, its function or its result. One line."""


@dataclass(frozen=True)
class MetricDef:
    name: str
    target: str  # "module:function"
    options: dict = field(default_factory=dict)
    path: str = ""  # the folder the module was found in when registered ("" = importable)

    @classmethod
    def of(cls, d: dict) -> MetricDef:
        return cls(d["name"], d["target"], dict(d.get("options") or {}), d.get("path") or "")

    def as_dict(self) -> dict:
        return {"name": self.name, "target": self.target, "options": self.options,
                "path": self.path}


@dataclass
class Run:
    """What a metric function receives."""
    W: np.ndarray  # (n_experts, d_hidden, n_features)
    b: np.ndarray  # (n_experts, n_features)
    router: np.ndarray | None  # (n_experts, n_features); None for a dense model
    config: dict
    run_id: int | None = None


def load(target: str, path: str = "") -> Callable:
    """The function named by "module:function"; MetricError in one line when it is not."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise MetricError(f"{target!r} is not module:function (e.g. mymetrics:top_norm)")
    from .usercode import UntrustedCode, import_module
    try:
        module = import_module(module_name, path)
    except UntrustedCode as err:
        raise MetricError(f"module {module_name!r}: {' '.join(str(err).split())}") from None
    except SystemExit as err:
        raise MetricError(f"module {module_name!r} exits while it is imported (SystemExit: "
                          f"{_line(err)}); a metric module must not call exit()") from None
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # any failure importing user code is theirs
        raise MetricError(f"module {module_name!r} does not import: "
                          f"{type(err).__name__}: {_line(err)}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise MetricError(f"{module_name} has no function {attr!r}")
    return fn


def wants_inputs(fn: Callable) -> bool:
    return "inputs" in inspect.signature(fn).parameters


def check_signature(fn: Callable, options: dict, name: str) -> None:
    """f(run, **options), plus inputs= if it asks for it: MetricError otherwise."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise MetricError(f"metric {name}: cannot read the function's signature") from None
    extra = {"inputs": None} if "inputs" in sig.parameters else {}
    try:
        sig.bind(None, **options, **extra)
    except TypeError as err:
        raise MetricError(f"metric {name}: the function must take f(run, **options)"
                          f"{' and inputs' if extra else ''}: {err}") from None


def shaped(value, n_experts: int, n_features: int, name: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A metric's result as (expert, feature, value) rows; -1 = not per expert / feature."""
    per = None
    if isinstance(value, dict) and len(value) == 1 and set(value) <= {"expert", "feature"}:
        per, value = next(iter(value.items()))
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricError(f"metric {name} returned {type(value).__name__}, not a number or "
                          "an array of numbers") from None
    except OverflowError:  # a Python int past a float's range, e.g. 10**400
        raise MetricError(f"metric {name} returned a number too large for a float "
                          "(beyond ±1.8e308)") from None
    E, n = n_experts, n_features
    if a.ndim == 0 and per is None:
        return np.array([-1]), np.array([-1]), a.reshape(1)
    if a.shape == (E, n) and per is None and a.ndim == 2:
        return np.repeat(np.arange(E), n), np.tile(np.arange(n), E), a.ravel()
    if a.ndim == 1 and len(a) == n and per in (None, "feature"):
        return np.full(n, -1), np.arange(n), a
    if a.ndim == 1 and len(a) == E and per in (None, "expert"):
        return np.arange(E), np.full(E, -1), a
    raise MetricError(f"metric {name} returned shape {a.shape}; expected a scalar, "
                      f"({E},) per expert, ({n},) per feature or ({E}, {n})")


@dataclass
class Computed:
    """Rows of custom_metrics and of custom_metric_errors, by local index (or run_id)."""
    rows: dict[str, list] = field(default_factory=lambda: {
        "local_index": [], "name": [], "expert": [], "feature": [], "value": []})
    errors: dict[str, list] = field(default_factory=lambda: {
        "local_index": [], "name": [], "error": []})

    def add(self, index: int, name: str, expert, feature, value) -> None:
        r = self.rows
        r["local_index"] += [index] * len(value)
        r["name"] += [name] * len(value)
        r["expert"] += [None if e < 0 else int(e) for e in expert]
        r["feature"] += [None if f < 0 else int(f) for f in feature]
        r["value"] += [float(v) for v in value]

    def fail(self, index: int, name: str, error: str) -> None:
        self.errors["local_index"].append(index)
        self.errors["name"].append(name)
        self.errors["error"].append(error)


def compute(metric: MetricDef, fn: Callable, runs: Iterable[Run], inputs=None,
            out: Computed | None = None, strict_shape: bool = False) -> Computed:
    """Compute one metric for runs (indexed by position); inputs(i) gives run i's sample
    when the function asks for it. A raise is recorded per run; a wrong shape too, unless
    strict_shape (bad input: MetricError, nothing kept)."""
    out = out or Computed()
    takes_inputs = wants_inputs(fn)
    for i, run in enumerate(runs):
        index = run.run_id if run.run_id is not None else i
        kwargs = dict(metric.options)
        try:
            if takes_inputs:
                kwargs["inputs"] = inputs(i)
            value = fn(run, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the user's code (exit() too): one line per run
            out.fail(index, metric.name, f"{type(err).__name__}: {_line(err)}")
            continue
        try:
            expert, feature, vals = shaped(value, run.W.shape[0], run.W.shape[-1], metric.name)
        except MetricError as err:
            if strict_shape:
                raise
            out.fail(index, metric.name, str(err))
            continue
        out.add(index, metric.name, expert, feature, vals)
    return out


def input_sample(p: np.ndarray, last_scale: float) -> np.ndarray:
    """The inputs a metric sees for a run of densities p (n,): (INPUT_SAMPLES, n)."""
    from .data import sample_numpy
    return sample_numpy(np.asarray(p)[None], np.array([last_scale]), INPUT_SAMPLES,
                        INPUT_SEED)[0]


def unit_tables(runs, W, b, router, p, last_scale) -> dict[str, dict[str, list]]:
    """custom_metrics and custom_metric_errors of a trained batch: every metric its runs'
    configs name (train.metrics). Nothing when none does."""
    import logging
    log = logging.getLogger("moelab.worker")
    wanted: dict[str, MetricDef] = {}
    for r in runs:
        for d in r.train.metrics:
            wanted.setdefault(d["name"], MetricDef.of(d))
    if not wanted:
        return {}
    out = Computed()
    for name, metric in wanted.items():
        picked = [i for i, r in enumerate(runs)
                  if any(d["name"] == name for d in r.train.metrics)]
        try:
            fn = load(metric.target, metric.path)
            check_signature(fn, metric.options, name)
        except MetricError as err:
            log.warning("custom metric %s: %s", name, err)
            for i in picked:
                out.fail(i, name, str(err))
            continue
        views = [Run(W[i], b[i], router[i] if runs[i].model.kind == "moe" else None,
                     _config(runs[i])) for i in picked]
        _merge(out, compute(metric, fn, views, _inputs_of(picked, p, last_scale)), picked)
    return {"custom_metrics": out.rows, "custom_metric_errors": out.errors}


def _inputs_of(picked: list[int], p, last_scale) -> Callable[[int], np.ndarray]:
    return lambda j: input_sample(p[picked[j]], float(last_scale[picked[j]]))


def _merge(out: Computed, part: Computed, picked: list[int]) -> None:
    """Add part's rows, its positions in `picked` turned back into the unit's indices."""
    part.rows["local_index"] = [picked[j] for j in part.rows["local_index"]]
    part.errors["local_index"] = [picked[j] for j in part.errors["local_index"]]
    for key in out.rows:
        out.rows[key] += part.rows[key]
    for key in out.errors:
        out.errors[key] += part.errors[key]


def _config(run) -> dict:
    import json
    return json.loads(run.to_json())


def _line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def with_metrics(cfg, defs: list[dict]):
    """cfg with the registered metrics in train.metrics (those it names itself keep its
    own definition): how `metric add` reaches every experiment queued after it."""
    import dataclasses
    have = {d["name"] for d in cfg.train.metrics}
    extra = tuple(MetricDef.of(d).as_dict() for d in defs if d["name"] not in have)
    if not extra:
        return cfg
    train = dataclasses.replace(cfg.train, metrics=cfg.train.metrics + extra)
    return dataclasses.replace(cfg, train=train).validated()
