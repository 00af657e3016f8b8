"""What snapshots, dynamics, MoE Lens and the API cost (issue 14), measured in one run.

  python -m moelab.benchmarks.dynamics [--quick] [--only cost|dynamics|disk|api]

1. cost: one unit of each paper setup trained at its preset's steps and batch, without
   snapshots and with N; the extra time of the snapshot hook (weights + a 2048-sample loss at
   each snapshot) and of the tables built from them (dynamics, MoE Lens), against training.
2. dynamics: the dynamics tables of 10,000 runs x 20 snapshots (random weights) computed.
3. disk: bytes a snapshot adds to the file (weights + dynamics rows), from one stored unit
   of fig4's largest setup (n=3, m=2, E=3) with 20 snapshots, and the size of a full fig4.
4. api: Lab.runs() on 100,000 runs, from the file and through a lab service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from moelab.engine.presets import build_config
from moelab.engine.sweep import expand

# (preset, variant filter, runs in the unit): one unit of each shape the presets train
SETUPS = (("fig4", {"n_features": 3, "d_hidden": 2, "n_experts": 3}, 64),
          ("fig1-2", {"n_experts": 3}, 5),
          ("fig6-init", {"router_init": "diagonal"}, 5),
          ("fig3", {"n_experts": 10}, 4))


def _unit(preset: str, where: dict, n: int, snapshots: int, steps: int | None):
    sets = [f"train.snapshots={snapshots}"] + ([f"train.steps={steps}"] if steps else [])
    runs = [r for r in expand(build_config(preset, sets=sets))
            if all(getattr(r.model, k) == v for k, v in where.items())]
    return runs[:n]


def cost(quick: bool, snapshots: tuple[int, ...]) -> None:
    """Each extra timed inside one training run (a differential of two trainings drowns in
    the noise of a shared machine): the snapshot hook's own time, then the tables."""
    from moelab.engine import snapshots as snap_mod
    from moelab.engine.dynamics import dynamics_tables
    from moelab.engine.lens import lens_tables
    from moelab.engine.train import train_batch
    spent = [0.0]
    take = snap_mod.Recorder.take

    def timed_take(self, step, trainer):
        t0 = time.perf_counter()
        take(self, step, trainer)
        spent[0] += time.perf_counter() - t0

    snap_mod.Recorder.take = timed_take
    print("cost: seconds of one unit; extras as % of its training time")
    for preset, where, n in SETUPS:
        for snaps in snapshots:
            runs = _unit(preset, where, n, snaps, 500 if quick else None)
            spent[0] = 0.0
            t0 = time.perf_counter()
            res = train_batch(runs, "cpu")
            train = time.perf_counter() - t0 - spent[0]
            p = np.stack([1 - np.broadcast_to(r.data.sparsity, (r.model.n_features,))
                          for r in runs])
            ls = np.array([r.data.last_scale for r in runs])
            t1 = time.perf_counter()
            dynamics_tables(res.snapshots, runs[0].model.k, p, ls)
            t2 = time.perf_counter()
            m = runs[0].model
            lens_tables(res.W, res.b, res.router, m.k, m.gating, res.importance, p, ls)
            t3 = time.perf_counter()
            pct = lambda s, t=train: 100 * s / t  # noqa: E731
            print(f"  {preset:9} {len(runs):3} runs x {runs[0].train.steps} steps, "
                  f"snapshots={snaps:2}: train {train:6.2f} s; hook {pct(spent[0]):4.1f} %, "
                  f"dynamics {pct(t2 - t1):4.1f} %, lens {pct(t3 - t2):4.1f} %: "
                  f"total +{pct(spent[0] + t3 - t1):4.1f} %")
    snap_mod.Recorder.take = take


def dynamics(n_runs: int = 10_000, S: int = 20) -> None:
    import moelab.engine.data  # noqa: F401  (imports torch, loaded in a worker already)
    from moelab.engine.dynamics import dynamics_tables
    from moelab.engine.snapshots import Snapshots, snapshot_steps
    rng = np.random.default_rng(0)
    for n, m, E in ((3, 2, 3), (20, 2, 3)):
        snap = Snapshots(snapshot_steps(5000, S), rng.normal(size=(n_runs, S, E, m, n))
                         .astype(np.float32), rng.normal(size=(n_runs, S, E, n))
                         .astype(np.float32), rng.normal(size=(n_runs, S, E, n))
                         .astype(np.float32), rng.random((n_runs, S)))
        p = np.full((n_runs, n), 0.3)
        t0 = time.perf_counter()
        tables = dynamics_tables(snap, 1, p, np.ones(n_runs))
        dt = time.perf_counter() - t0
        rows = len(tables["dynamics_features"]["step"])
        print(f"dynamics: {n_runs} runs x {S} snapshots (n={n}, m={m}, E={E}): {dt:.1f} s, "
              f"{rows:,} feature rows")


def disk(S: int = 20) -> None:
    from moelab.db import open_store
    from moelab.engine.families.toy import train as train_unit
    from moelab.engine.sweep import count_models
    out = {}
    for snaps in (0, S):
        runs = _unit("fig4", {"n_features": 3, "d_hidden": 2, "n_experts": 3}, 256, snaps, 200)
        tables = train_unit(runs, "cpu")
        d = Path(tempfile.mkdtemp())
        with open_store(d / "lab.duckdb") as store:
            eid = store.create_experiment("disk", None, "{}")
            for rep in range(8):  # 2048 runs: past DuckDB's fixed overheads
                store.write_unit(eid, rep, tables)
            store.query("CHECKPOINT")
        out[snaps] = (d / "lab.duckdb").stat().st_size
        shutil.rmtree(d)
    per_run = (out[S] - out[0]) / 2048
    full = build_config("fig4")
    n_runs = count_models(full)
    # E x n per run varies by setup: scale by the mean experts x features over fig4's runs
    runs = expand(full)
    mean_en = np.mean([r.model.n_experts * r.model.n_features for r in runs])
    est = per_run * n_runs * (mean_en / 9)
    print(f"disk: {S} snapshots add {per_run:,.0f} bytes to a run of n=3, m=2, E=3 "
          f"({per_run / S:,.0f} per snapshot); a full fig4 ({n_runs:,} runs, mean E*n "
          f"{mean_en:.2f}) with {S} snapshots: about {est / 1e9:.2f} GB more")


def api(n_runs: int = 100_000) -> None:
    import moelab
    from moelab.db import open_store
    from moelab.db.sample import synthetic_chunk
    from moelab.engine.service.client import stop_service
    from moelab.engine.service.launch import start_service
    d = Path(tempfile.mkdtemp())
    db = d / "lab.duckdb"
    with open_store(db) as store:
        eid = store.create_experiment("big", None, "{}")
        for i in range(n_runs // 10_000):
            chunk = synthetic_chunk(10_000, seed=i)
            store.write_runs(eid, [{"runs": chunk["runs"]}])
    try:
        for where in ("file", "service"):
            if where == "service":
                start_service(db)
            with moelab.open(db) as lab:
                lab.runs(limit=1)  # imports and the first connection, not the read
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    df = lab.runs()
                    times.append(time.perf_counter() - t0)
            print(f"api: runs() on {len(df):,} runs x {df.shape[1]} columns from the {where}: "
                  f"median {np.median(times):.2f} s (min {min(times):.2f})")
    finally:
        stop_service(db, timeout=30)
        shutil.rmtree(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 steps instead of the presets'")
    ap.add_argument("--only", choices=("cost", "dynamics", "disk", "api"))
    ap.add_argument("--snapshots", default="8,20", help="snapshot counts to cost (8,20)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    todo = [args.only] if args.only else ["cost", "dynamics", "disk", "api"]
    if "cost" in todo:
        cost(args.quick, tuple(int(s) for s in args.snapshots.split(",")))
    if "dynamics" in todo:
        dynamics()
    if "disk" in todo:
        disk()
    if "api" in todo:
        api()


if __name__ == "__main__":
    main()
