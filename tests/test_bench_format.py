"""`moelab bench` output: one line per workload, starting with its name, with the ratio
written like `12.3x`, GFLOP/s and random numbers per second next to the machine's measured
peaks (a tiny-steps run of the real harness)."""

import re

import pytest

from moelab.benchmarks import run as bench_run


def _tiny(w):
    raw = dict(w.raw)
    raw["sweep"] = {"data.sparsity": [0.5, 0.9]}
    raw["train"] = {**raw["train"], "seeds": 1}
    return bench_run.Workload(w.name, w.what, raw)


def test_bench_lines_have_name_ratio_and_gflops():
    lines = []
    plans = {w.name: ((1, 2), (1, 1)) for w in bench_run.WORKLOADS} | {"rounds": 1}
    peaks, rows = bench_run.bench(True, [_tiny(w) for w in bench_run.WORKLOADS], plans,
                                  out=lines.append)
    assert peaks.gflops > 0 and peaks.randoms > 0
    assert any("matmul peak" in ln for ln in lines)
    assert any("random-number peak" in ln for ln in lines)
    for name in ("W1", "W2", "W3"):
        line = next(ln for ln in lines if ln.startswith(name))
        assert re.search(r"\b\d+\.\dx\b", line), line
        assert re.search(r"GFLOP/s .* of \d+ peak fp32", line), line
        assert re.search(r"\d+ M random/s \(baseline \d+\) of \d+ peak RNG", line), line
    table = bench_run.table(peaks, rows)
    assert table.count("\n") == 2 + len(rows) - 1
    assert "peak M random/s" in table.splitlines()[0]
    assert all(len(ln.split("|")) == 13 for ln in table.splitlines())
    for r in rows:  # one uniform per input element for the engine, two for the baseline
        assert r.ratio > 0 and r.rng_engine > 0
        assert r.rng_reference == pytest.approx(2 * r.rng_engine * r.reference / r.engine)
