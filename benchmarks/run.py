"""`moelab bench`: the engine's training throughput against the baseline, on this machine.

For each workload, moelab's engine (`train_batch`) and the baseline (benchmarks/reference.py,
the research code's recipe re-implemented) train the same models in alternating rounds; each
round times a fixed number of steps after a warm-up. Reported: instance-steps per second for
both (median over rounds), the ratio, achieved GFLOP/s against this machine's fp32 matmul
peak, and random numbers drawn per second against the peak of the kernels' own generator
alone (engine/cpu/rng.py on every core), both peaks measured in the same run.

FLOPs counted are the model's useful work, the same for both sides: per sample, the router
(2·E·n) and the routed experts' two matmuls (k · 2 · 2·m·n), times 3 for forward + backward.
Random numbers: the engine draws one uniform per input element (batch · n per instance-step),
the baseline two (torch.rand for the values and for the mask).
Then the language-model workloads L1 (dense) and L2 (MoE): lm_bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from moelab.engine.config import from_dict
from moelab.engine.data import density, importance
from moelab.engine.model import init_instance
from moelab.engine.sweep import RunSpec, expand
from moelab.engine.train import Progress, train_batch

from .reference import Reference


@dataclass(frozen=True)
class Workload:
    name: str
    what: str
    raw: dict  # a config (TOML-shaped); its sweep gives the instances

    def runs(self, steps: int) -> list[RunSpec]:
        raw = {**self.raw, "train": {**self.raw["train"], "steps": steps, "eval_samples": 512,
                                     "log_every": 10**9}}
        return expand(from_dict(raw))


def _r(values) -> list[float]:
    return [round(float(v), 4) for v in values]


WORKLOADS = [
    Workload("W1", "phase-diagram slice: MoE n=3 m=2 E=3 k=1 α=0.01, 400 inst, batch 512", {
        "model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1},
        "data": {"importance": "uniform"},
        "train": {"batch_size": 512, "lb_coef": 0.01},
        "sweep": {"data.sparsity": _r(np.linspace(0.025, 0.975, 20)),
                  "data.last_importance": _r(np.linspace(0.1, 2.95, 20))}}),
    Workload("W2", "dense n=20 m=5, I=0.7^i, 20 densities x 20 seeds = 400 inst, batch 1024", {
        "model": {"kind": "dense", "n_features": 20, "d_hidden": 5},
        "data": {"importance": {"decay": 0.7}},
        "train": {"batch_size": 1024, "seeds": 20, "select": "all"},
        "sweep": {"data.sparsity": _r(1 - np.geomspace(1.0, 0.01, 20))}}),
    Workload("W3", "table1 shape: MoE n=100 m=10 E=10 k=1, density 0.1, 100 inst, batch 1024", {
        "model": {"kind": "moe", "n_features": 100, "d_hidden": 10, "n_experts": 10, "k": 1},
        "data": {"sparsity": 0.9, "importance": {"decay": 0.9, "permute": True}},
        "train": {"batch_size": 1024, "seeds": 100, "select": "all"}}),
]

# (warm-up steps, timed steps) per round, and rounds, for engine / reference
PLANS = {
    True: {"W1": ((10, 300), (3, 15)), "W2": ((5, 100), (2, 6)), "W3": ((3, 30), (1, 2)),
           "rounds": 2},
    False: {"W1": ((20, 2000), (5, 100)), "W2": ((10, 500), (3, 30)),
            "W3": ((5, 150), (1, 6)), "rounds": 3},
}


def matmul_peak(size: int = 2048, reps: int = 5) -> float:
    """fp32 GFLOP/s of one large square matmul (best of reps)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    c = torch.empty(size, size)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def rng_peak(threads: int, reps: int = 300, rounds: int = 3) -> float:
    """Uniforms per second of the CPU kernels' xoshiro128+ streams alone, one thread per
    core as in training (best of rounds)."""
    from concurrent.futures import ThreadPoolExecutor

    from moelab.engine.cpu.rng import fill_repeat, seed_states

    n, B = 16, 4096
    states = seed_states(list(range(threads)))
    bufs = [np.zeros((1, n, B), np.float32) for _ in range(threads)]
    q = np.full(n, -1.0, np.float32)
    fill_repeat(states[0], q, B, bufs[0], 1)  # compile (or load) first
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            t = time.perf_counter()
            jobs = [pool.submit(fill_repeat, states[c], q, B, bufs[c], reps)
                    for c in range(threads)]
            for j in jobs:
                j.result()
            best = min(best, time.perf_counter() - t)
    return threads * reps * n * B / best


def randoms_per_instance_step(r: RunSpec) -> tuple[int, int]:
    """Uniforms drawn per instance-step: (engine, baseline)."""
    per = r.train.batch_size * r.model.n_features
    return per, 2 * per


def flops_per_instance_step(r: RunSpec) -> float:
    m = r.model
    n, d, E, k = m.n_features, m.d_hidden, m.n_experts, m.k
    router = 2 * E * n if E > 1 else 0
    return 3.0 * r.train.batch_size * (router + k * 4 * d * n)


def time_engine(runs: list[RunSpec], warm: int, timed: int) -> float:
    """Instance-steps per second of train_batch over `timed` steps after `warm`."""
    import dataclasses
    steps = warm + timed
    runs = [dataclasses.replace(r, train=dataclasses.replace(r.train, steps=steps))
            for r in runs]
    marks: dict[int, float] = {}

    def on(p: Progress) -> None:
        marks[p.step] = time.perf_counter()

    train_batch(runs, "cpu", progress=on, progress_every=warm)
    return timed * len(runs) / (marks[steps] - marks[warm])


def make_reference(runs: list[RunSpec], seed: int = 0) -> Reference:
    m, t = runs[0].model, runs[0].train
    n = m.n_features
    return Reference(
        n, m.d_hidden, m.n_experts, m.k, m.gating,
        [init_instance(r.model, r.seed) for r in runs],
        np.stack([density(r.data, n) for r in runs]),
        np.stack([importance(r.data, n, r.seed) for r in runs]),
        np.array([r.train.lb_coef for r in runs]), t.batch_size, lr=t.lr,
        weight_decay=t.weight_decay, reduction=t.feature_reduction, seed=seed)


def time_reference(runs: list[RunSpec], warm: int, timed: int) -> float:
    ref = make_reference(runs)
    for _ in range(warm):
        ref.step()
    t = time.perf_counter()
    for _ in range(timed):
        ref.step()
    return timed * len(runs) / (time.perf_counter() - t)


@dataclass
class Row:
    name: str
    n_inst: int
    engine: float  # instance-steps / s
    reference: float
    gflops_engine: float
    gflops_reference: float
    rng_engine: float = 0.0  # random numbers / s
    rng_reference: float = 0.0

    @property
    def ratio(self) -> float:
        return self.engine / self.reference

    def line(self, peak: float, rng_peak: float) -> str:
        return (f"{self.name}  moelab {self.engine:10.0f} inst-steps/s   "
                f"baseline {self.reference:9.0f} inst-steps/s   {self.ratio:.1f}x   "
                f"{self.gflops_engine:.1f} GFLOP/s (baseline {self.gflops_reference:.1f}) "
                f"of {peak:.0f} peak fp32   {self.rng_engine / 1e6:.0f} M random/s "
                f"(baseline {self.rng_reference / 1e6:.0f}) of {rng_peak / 1e6:.0f} peak RNG")


@dataclass(frozen=True)
class Peaks:
    gflops: float  # fp32 matmul
    randoms: float  # uniforms / s of the kernels' generator alone, every core


def bench(quick: bool, workloads=WORKLOADS, plans=None, out=print) -> tuple[Peaks, list[Row]]:
    plans = plans or PLANS[quick]
    torch.manual_seed(0)
    peaks = Peaks(matmul_peak(), rng_peak(torch.get_num_threads()))
    out(f"fp32 matmul peak on this machine: {peaks.gflops:.0f} GFLOP/s "
        f"({torch.get_num_threads()} threads, torch {torch.__version__})")
    out(f"random-number peak: {peaks.randoms / 1e6:.0f} M uniforms/s (the CPU kernels' "
        f"xoshiro128+ streams alone, {torch.get_num_threads()} threads)")
    out("baseline = the research code's recipe re-implemented (benchmarks/reference.py): "
        "vmap(functional_call), dense experts, autograd, torch AdamW, fresh torch.rand")
    rows = []
    for w in workloads:
        (ew, et), (rw, rt) = plans[w.name]
        runs = w.runs(ew + et)
        eng, ref = [], []
        for _ in range(plans["rounds"]):
            eng.append(time_engine(runs, ew, et))
            ref.append(time_reference(runs, rw, rt))
        e, r = statistics.median(eng), statistics.median(ref)
        f = flops_per_instance_step(runs[0])
        re_, rr = randoms_per_instance_step(runs[0])
        row = Row(w.name, len(runs), e, r, e * f / 1e9, r * f / 1e9, e * re_, r * rr)
        rows.append(row)
        out(row.line(peaks.gflops, peaks.randoms))
    return peaks, rows


def table(peaks: Peaks, rows: list[Row]) -> str:
    head = ("| workload | instances | moelab inst-steps/s | baseline inst-steps/s | speed-up "
            "| moelab GFLOP/s | baseline GFLOP/s | peak GFLOP/s | moelab M random/s "
            "| baseline M random/s | peak M random/s |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r.name} | {r.n_inst} | {r.engine:.0f} | {r.reference:.0f} | "
                     f"{r.ratio:.1f}x | {r.gflops_engine:.1f} | {r.gflops_reference:.1f} | "
                     f"{peaks.gflops:.0f} | {r.rng_engine / 1e6:.0f} | "
                     f"{r.rng_reference / 1e6:.0f} | {peaks.randoms / 1e6:.0f} |")
    return "\n".join(lines)


def run_bench(quick: bool = False) -> int:
    t = time.perf_counter()
    peaks, rows = bench(quick)
    from . import lm_bench  # the language-model workloads (L1, L2)
    lm_rows = lm_bench.bench_lm(quick, peaks.gflops)
    print()
    print(table(peaks, rows))
    print()
    print(lm_bench.table(peaks.gflops, lm_rows, lm_bench.LM_WORKLOADS[quick]))
    print(f"\n({'quick' if quick else 'full'} bench, {time.perf_counter() - t:.0f} s)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moelab.benchmarks.run")
    ap.add_argument("--quick", action="store_true")
    return run_bench(ap.parse_args(argv).quick)


if __name__ == "__main__":
    sys.exit(main())
