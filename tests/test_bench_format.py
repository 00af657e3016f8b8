"""`moelab bench` output: one line per workload, starting with its name, with the ratio
written like `12.3x`, plus the matmul peak (a tiny-steps run of the real harness)."""

import re

from moelab.benchmarks import run as bench_run


def _tiny(w):
    raw = dict(w.raw)
    raw["sweep"] = {"data.sparsity": [0.5, 0.9]}
    raw["train"] = {**raw["train"], "seeds": 1}
    return bench_run.Workload(w.name, w.what, raw)


def test_bench_lines_have_name_ratio_and_gflops():
    lines = []
    plans = {w.name: ((1, 2), (1, 1)) for w in bench_run.WORKLOADS} | {"rounds": 1}
    peak, rows = bench_run.bench(True, [_tiny(w) for w in bench_run.WORKLOADS], plans,
                                 out=lines.append)
    assert peak > 0
    assert any("peak" in ln for ln in lines)
    for name in ("W1", "W2", "W3"):
        line = next(ln for ln in lines if ln.startswith(name))
        assert re.search(r"\b\d+\.\dx\b", line), line
        assert "GFLOP/s" in line
    table = bench_run.table(peak, rows)
    assert table.count("\n") == 2 + len(rows) - 1
    assert all(r.ratio > 0 for r in rows)
