"""What streaming, units and Dask cost (issue 10), measured on this machine in one run.

  python -m moelab.benchmarks.streaming [--quick] [--no-dask]

1. Streaming overhead: the same sweep trained in this process (a) as one unit stored once
   at the end, and (b) as units of about UNIT_SECONDS each, every one stored in its own
   transaction as it finishes (what the lab does). Alternating rounds; medians.
2. Executors: the same units through the local worker process (the service's default)
   and through a LocalCluster of two one-thread Dask workers, each storing every unit, on
   fig4 --quick and on one larger sweep. The cluster is started before timing (the service
   keeps it), the local worker's spawn is counted (the service spawns one per experiment).
3. Memory: this process's resident size after each stored unit of a long sweep: it holds
   only the units in flight, so it stays flat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from moelab.db import open_store
from moelab.engine.config import from_dict
from moelab.engine.executors.base import UnitDone
from moelab.engine.executors.inprocess import InProcessExecutor
from moelab.engine.executors.local import LocalExecutor
from moelab.engine.plan import plan, run_cost
from moelab.engine.presets import get
from moelab.engine.sweep import expand


def sweep(n_points: int, steps: int) -> dict:
    """An MoE phase-diagram slice (n=3, m=2, E=3): n_points sparsities x 2 seeds."""
    return {"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1},
            "train": {"steps": steps, "batch_size": 512, "lb_coef": 0.01, "seeds": 2,
                      "eval_samples": 2000},
            "sweep": {"data.sparsity": [round(0.05 + 0.9 * i / max(n_points - 1, 1), 4)
                                        for i in range(n_points)]}}


class _Sink:
    """Stores every finished unit in a fresh database, as the service does."""

    def __init__(self, cfg, n_runs: int, n_units: int):
        self.dir = tempfile.TemporaryDirectory()
        self.store = open_store(Path(self.dir.name) / "bench.duckdb")
        self.eid = self.store.create_experiment("bench", None, cfg.to_json(), status="running")
        self.store.set_plan(self.eid, n_runs, n_units, 0.0)
        self.rss: list[float] = []

    def __call__(self, ev) -> None:
        if isinstance(ev, UnitDone):
            r = ev.result
            self.store.write_unit(self.eid, ev.unit.index, r.tables, r.meta(),
                                  dict(ev.unit.point_sizes))
            self.rss.append(_rss_mb())

    def close(self) -> None:
        self.store.close()
        self.dir.cleanup()


def unit_work_for(cfg, n_units: int) -> float:
    """A unit size that cuts the sweep into about n_units units."""
    return sum(run_cost(r) * r.train.steps for r in expand(cfg)) / n_units


def timed(executor, cfg, n_units: int | None) -> tuple[float, list[float], int]:
    """Seconds to train and store cfg as about n_units units (None: the lab's unit size)."""
    runs = expand(cfg)
    work = None if n_units is None else unit_work_for(cfg, n_units)
    units = plan(cfg, 1, unit_work=work, runs=runs, device="cpu")
    sink = _Sink(cfg, len(runs), len(units))
    t0 = time.perf_counter()
    executor.run(units, sink, lambda: False)
    seconds = time.perf_counter() - t0
    rss = sink.rss
    sink.close()
    return seconds, rss, len(units)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def streaming_overhead(quick: bool) -> None:
    # Each thread runs its share of a unit through many steps per hand-over (the steps up to
    # the next log, progress or snapshot step), and storing a unit costs ~70 ms, so even
    # small units cost little. Here: 2 units of 60 runs and 8 of 15 against 1 of 120.
    cfg = from_dict(sweep(32 if quick else 60, 3000 if quick else 5000))
    ex = InProcessExecutor()
    timed(ex, cfg, 1)  # warm: kernels loaded, caches filled
    splits = (1, 2, 8)
    times: dict[int, list[float]] = {n: [] for n in splits}
    for _ in range(3):  # alternating rounds: load on the machine hits every split alike
        for n in splits:
            times[n].append(timed(ex, cfg, n)[0])
    once = statistics.median(times[1])
    for n in splits[1:]:
        t = statistics.median(times[n])
        print(f"streaming: {len(expand(cfg))} runs; stored once at the end {once:.2f} s, as "
              f"{n} units stored as they finish {t:.2f} s: overhead {100 * (t / once - 1):+.1f}%"
              " (target <= 5%)")


def executors(quick: bool, dask: bool) -> None:
    fig4 = from_dict(get("fig4").raw(True))
    larger = from_dict(sweep(24 if quick else 60, 1000 if quick else 3000))
    local = LocalExecutor()
    cluster = None
    if dask:
        from moelab.engine.executors.dask import DaskExecutor
        cluster = DaskExecutor("local:2")
    try:
        for name, cfg in (("fig4 --quick", fig4), ("larger sweep", larger)):
            n_units = 16  # enough units to keep two workers busy to the end
            t_local, _, n = timed(local, cfg, n_units)
            line = f"executors: {name}, {len(expand(cfg))} runs in {n} units: local worker " \
                   f"{t_local:.1f} s"
            if cluster is not None:
                t_dask, _, _ = timed(cluster, cfg, n_units)
                line += f", LocalCluster of 2 one-thread workers {t_dask:.1f} s " \
                        f"({100 * (t_dask / t_local - 1):+.1f}%; target within 15%)"
            print(line)
    finally:
        if cluster is not None:
            cluster.close()


def fig4_full(steps: int | None) -> None:
    """The full fig4 grid with one seed per cell (18,096 models), in the lab's own units,
    through the local worker and through a LocalCluster of 2 one-thread workers."""
    from moelab.engine.executors.dask import DaskExecutor
    raw = get("fig4").raw(False)
    raw["train"] = {**raw.get("train", {}), "seeds": 1, **({"steps": steps} if steps else {})}
    cfg = from_dict(raw)
    t_local, _, n = timed(LocalExecutor(), cfg, None)
    print(f"fig4 full, one seed per cell: {len(expand(cfg))} runs x {cfg.train.steps} steps "
          f"in {n} units: local worker {t_local:.0f} s", flush=True)
    cluster = DaskExecutor("local:2")
    try:
        t_dask, _, _ = timed(cluster, cfg, None)
    finally:
        cluster.close()
    print(f"fig4 full, one seed per cell: LocalCluster of 2 one-thread workers {t_dask:.0f} s "
          f"({100 * (t_dask / t_local - 1):+.1f}% against the local worker)")


def memory(quick: bool) -> None:
    cfg = from_dict(sweep(40 if quick else 120, 300))
    _, rss, n = timed(InProcessExecutor(), cfg, 60)
    k = max(1, len(rss) // 4)
    print(f"memory: {n} units stored; resident size after the first {k}: "
          f"{statistics.mean(rss[:k]):.0f} MB, after the last {k}: {statistics.mean(rss[-k:]):.0f}"
          f" MB (max {max(rss):.0f} MB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moelab.benchmarks.streaming")
    ap.add_argument("--quick", action="store_true", help="smaller sweeps (about 2 minutes)")
    ap.add_argument("--no-dask", action="store_true", help="skip the LocalCluster comparison")
    ap.add_argument("--fig4-full", action="store_true",
                    help="only: the full fig4 grid, one seed per cell, local worker against a "
                         "LocalCluster (about half an hour on 2 cores)")
    ap.add_argument("--steps", type=int, help="with --fig4-full: fewer training steps")
    args = ap.parse_args(argv)
    # The lab's worker trains at idle priority so the interface stays quick; for a fair
    # race against Dask's workers (normal priority) it trains at normal priority here.
    os.environ.setdefault("MOELAB_TRAIN_PRIORITY", "normal")
    if args.fig4_full:
        fig4_full(args.steps)
        return 0
    streaming_overhead(args.quick)
    executors(args.quick, not args.no_dask)
    memory(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
