"""Device script (issue 22, target 5): the fig4 preset trained through the torch trainer on
one GPU, with 1 and with 10 seeds per cell, timed.

  python -m moelab.benchmarks.gpu_fig4                       # full fig4 on CUDA: 1, 10 seeds
  python -m moelab.benchmarks.gpu_fig4 --quick               # the --quick grid
  python -m moelab.benchmarks.gpu_fig4 --quick --device torch-cpu --steps 10 --limit 3
                                                             # smoke run on the CPU (tests)

Trains every batch of the preset as the lab groups them (sweep.batches), each with
train.train_batch (data, routing, forward, backward and AdamW in one compiled step on the
device; then the eval loss), and prints per seed count: models, seconds, models/s and the
peak GPU memory. Per-run metrics and the database are not in it (they run on the CPU in
the lab: `moelab run fig4 --device cuda` times the whole); the seconds include compiling
the step once per model shape. It also trains one run alone
and says whether it reached bitwise the weights it reached inside its batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from moelab.engine.presets import build_config
from moelab.engine.sweep import batches, expand
from moelab.engine.train import train_batch


def _runs(quick: bool, seeds: int, steps: int | None, limit: int | None):
    sets = [f"train.seeds={seeds}"] + ([f"train.steps={steps}"] if steps else [])
    runs = expand(build_config("fig4", quick=quick, sets=sets))
    if limit:  # the first `limit` runs of each model shape, for smoke runs
        kept, seen = [], {}
        for r in runs:
            key = r.batch_key()
            if seen.get(key, 0) < limit:
                kept.append(r)
                seen[key] = seen.get(key, 0) + 1
        runs = kept
    return runs


def _peak_mib(device: str) -> float | None:
    if device != "cuda":
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def measure(runs, device: str, max_elements: int) -> dict:
    """Train every batch; wall seconds, models/s, peak GPU memory, one result kept."""
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    first = None
    for idx in batches(runs, max_elements):
        res = train_batch([runs[i] for i in idx], device)
        if first is None:
            first = (runs[idx[-1]], res.W[-1], res.b[-1], res.router[-1])
    if cuda:
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    return {"models": len(runs), "seconds": round(secs, 2),
            "models_per_s": round(len(runs) / secs, 1), "peak_mib": _peak_mib(device),
            "_first": first}


def alone_matches(first, device: str) -> bool:
    """The last run of the first batch, trained alone: bitwise its weights in the batch?"""
    run, W, b, router = first
    res = train_batch([run], device)
    return bool(np.array_equal(res.W[0], W) and np.array_equal(res.b[0], b)
                and np.array_equal(res.router[0], router))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moelab.benchmarks.gpu_fig4")
    ap.add_argument("--quick", action="store_true", help="the preset's --quick grid")
    ap.add_argument("--device", default="cuda", choices=("cuda", "torch-cpu"),
                    help="cuda (default), or torch-cpu: the same trainer on the CPU")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--steps", type=int, help="override train.steps (default: the preset's)")
    ap.add_argument("--limit", type=int, help="keep the first N runs of each model shape")
    ap.add_argument("--max-elements", type=int, default=1 << 28,
                    help="batch split bound (sweep.batches); the lab's default is 2**26")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("moelab: no CUDA GPU here; use --device torch-cpu for a smoke run",
              file=sys.stderr)
        return 2
    if args.device == "cuda":
        print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    rows = []
    for seeds in args.seeds:
        runs = _runs(args.quick, seeds, args.steps, args.limit)
        steps = runs[0].train.steps
        row = measure(runs, args.device, args.max_elements)
        first = row.pop("_first")
        row.update(seeds=seeds, steps=steps)
        if not rows:  # once: the per-run determinism on this device
            row["alone_bitwise_equal"] = alone_matches(first, args.device)
        rows.append(row)
        print(f"fig4{' --quick' if args.quick else ''} seeds={seeds} steps={steps}: "
              f"{row['models']} models in {row['seconds']} s, {row['models_per_s']} models/s, "
              f"peak GPU memory {row['peak_mib'] and round(row['peak_mib'])} MiB"
              + (f", alone == in batch: {row['alone_bitwise_equal']}"
                 if "alone_bitwise_equal" in row else ""), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "quick": args.quick, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

