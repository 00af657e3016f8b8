"""`moelab metric add|list|remove|compute`: your own metrics (engine/custom_metrics.py).

A metric is a Python function f(run, **options) named as module:function (the module found
from the current folder too, which is recorded with it). `add` checks it in a child process
(moelab/metric_check.py: it imports, takes f(run, **options), returns a scalar or a value
per expert / feature on a test run) and registers it: every experiment queued afterwards
computes it for each run, in the worker. `compute` fills it for runs already stored, loading
the module from its recorded folder. Bad input is one line and exit status 2, with nothing
written; a metric that raises for a run is one line for that run, and nothing is stored
for it.
"""

from __future__ import annotations

import json
import os
import re
import sys

from moelab.cmdline import add_db, db_path
from moelab.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_BATCH = 2000  # runs whose weights are read at a time


def register(sub, groups) -> None:
    from moelab.cmdline import Parser
    p = sub.add_parser("metric", help="your own metrics: add, list, remove, compute")
    msub = p.add_subparsers(dest="action", parser_class=Parser, required=True,
                            metavar="ACTION")
    a = msub.add_parser("add", help="register f(run, **options), computed for every new run")
    a.add_argument("name", help="the metric's name in the custom_metrics view")
    a.add_argument("target", metavar="module:function")
    a.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword argument for the function (VALUE parsed as TOML)")
    add_db(a)
    a.set_defaults(func=add)
    ls = msub.add_parser("list", help="the registered metrics")
    add_db(ls)
    ls.set_defaults(func=list_metrics)
    rm = msub.add_parser("remove", help="stop computing a metric for new runs (stored "
                         "values stay)")
    rm.add_argument("name")
    add_db(rm)
    rm.set_defaults(func=remove)
    c = msub.add_parser("compute", help="compute a registered metric for stored runs")
    c.add_argument("name")
    c.add_argument("--experiment", type=int, metavar="ID", help="only this experiment's runs")
    add_db(c)
    c.set_defaults(func=compute)


def _load(target: str, options: dict, name: str, path: str):
    """The metric's function, from the folder recorded with it (`compute`)."""
    from moelab.engine.custom_metrics import MetricError, check_signature, load
    try:
        fn = load(target, path)
        check_signature(fn, options, name)
    except MetricError as err:
        raise UsageError(str(err)) from None
    return fn


def add(args) -> int:
    from moelab import metric_registry
    from moelab.engine.config import ConfigError, parse_value
    if not _NAME.fullmatch(args.name):
        raise UsageError(f"metric name {args.name!r}: use letters, digits, _ . - (starting "
                         "with a letter)")
    options = {}
    for text in args.option:
        key, sep, value = text.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"--option {text!r} needs the form KEY=VALUE")
        try:
            options[key.strip()] = parse_value(value.strip())
        except ConfigError as err:
            raise UsageError(f"--option {text!r}: {err}") from None
    from moelab.metric_check import check_in_child, module_folder
    # the folder it came from travels with the registration, for the service's worker
    path = module_folder(args.target, os.getcwd())
    for note in check_in_child(args.name, args.target, options, path):
        print(note, file=sys.stderr)
    metric_registry.add(db_path(args), args.name, args.target, options, path)
    print(f"metric {args.name} = {args.target} registered; experiments queued from now on "
          f"compute it (`moelab metric compute {args.name}` fills stored runs)")
    return 0


def list_metrics(args) -> int:
    from moelab import metric_registry
    rows = metric_registry.registry(db_path(args))
    if not rows:
        print("no metrics registered; add one with `moelab metric add NAME module:function`")
    for r in rows:
        opts = f" {json.dumps(r['options'])}" if r["options"] else ""
        print(f"{r['name']}\t{r['target']}{opts}")
    return 0


def remove(args) -> int:
    from moelab import metric_registry
    if not metric_registry.remove(db_path(args), args.name):
        raise UsageError(f"no metric named {args.name!r} is registered")
    print(f"metric {args.name} removed (its stored values stay)")
    return 0


def compute(args) -> int:
    import moelab
    from moelab import metric_registry
    from moelab.engine.custom_metrics import Computed, MetricDef, MetricError
    from moelab.engine.custom_metrics import compute as compute_metric
    path = db_path(args)
    defs = {d["name"]: d for d in metric_registry.registry(path)}
    if args.name not in defs:
        raise UsageError(f"no metric named {args.name!r} is registered; `moelab metric add "
                         f"{args.name} module:function` first")
    metric = MetricDef.of(defs[args.name])
    fn = _load(metric.target, metric.options, metric.name, metric.path)
    where = "" if args.experiment is None else f" WHERE experiment_id = {args.experiment}"
    out, run_ids = Computed(), []
    with moelab.open(path) as lab:
        ids = lab.sql(f"SELECT run_id FROM runs{where} ORDER BY run_id",
                      format="arrow").column("run_id").to_pylist()
        if not ids:
            raise UsageError("no stored runs" + (f" in experiment {args.experiment}"
                                                  if args.experiment is not None else ""))
        for start in range(0, len(ids), _BATCH):
            batch = ids[start:start + _BATCH]
            runs = _stored_runs(lab, batch[0], batch[-1])
            try:
                compute_metric(metric, fn, runs, lambda i, rs=runs: _inputs(rs[i]), out,
                               strict_shape=True)
            except MetricError as err:
                raise UsageError(f"{err}; nothing was stored") from None
            run_ids += batch
    for run_id, error in zip(out.errors["local_index"], out.errors["error"], strict=True):
        print(f"moelab: metric {metric.name} failed on run {run_id}: {error}", file=sys.stderr)
    values = {"run_id": out.rows["local_index"], **{k: out.rows[k]
                                                    for k in ("expert", "feature", "value")}}
    errors = {"run_id": out.errors["local_index"], "error": out.errors["error"]}
    n = metric_registry.store_values(path, metric.name, run_ids, values, errors)
    failed = len(set(errors["run_id"]))
    print(f"metric {metric.name}: {n} values stored for {len(run_ids) - failed} runs"
          + (f"; {failed} runs failed (nothing stored for them)" if failed else ""))
    return 0


def _stored_runs(lab, lo: int, hi: int) -> list:
    """The runs with ids in lo..hi, as metric functions see them."""
    import numpy as np

    from moelab.engine.custom_metrics import Run
    meta = lab.sql(f"SELECT run_id, kind, n_features, d_hidden, config FROM runs "
                   f"WHERE run_id BETWEEN {lo} AND {hi} ORDER BY run_id", format="arrow")
    w = lab.sql(f"SELECT run_id, W, b, router FROM weights WHERE run_id BETWEEN {lo} AND {hi} "
                "ORDER BY run_id, expert", format="arrow")
    owner = w.column("run_id").to_numpy()
    flat = {c: w.column(c).combine_chunks().flatten().to_numpy(zero_copy_only=False)
            for c in ("W", "b", "router")}
    runs, at = [], {c: 0 for c in flat}
    for run_id, kind, n, m, config in zip(*(meta.column(c).to_pylist() for c in (
            "run_id", "kind", "n_features", "d_hidden", "config")), strict=True):
        E = int((owner == run_id).sum())
        sizes = {"W": E * m * n, "b": E * n, "router": E * n}
        part = {}
        for c, size in sizes.items():
            part[c] = flat[c][at[c]:at[c] + size]
            at[c] += size
        runs.append(Run(part["W"].reshape(E, m, n).astype(np.float64),
                        part["b"].reshape(E, n).astype(np.float64),
                        None if kind == "dense" else part["router"].reshape(E, n)
                        .astype(np.float64),
                        json.loads(config) if config else {}, run_id=int(run_id)))
    return runs


def _inputs(run):
    """The run's input sample, from its stored data settings."""
    import numpy as np

    from moelab.engine.custom_metrics import input_sample
    data = run.config.get("data", {})
    n = run.W.shape[-1]
    p = 1.0 - np.broadcast_to(np.asarray(data.get("sparsity", 0.9), dtype=np.float64), (n,))
    return input_sample(p, float(data.get("last_scale", 1.0)))

