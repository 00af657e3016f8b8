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


def test_lm_bench_lines_have_tokens_per_second_ratio_and_share_of_peak():
    """L1 (dense) and L2 (MoE): our lm trainer against a plain torch loop of the same model,
    tokens per second, the ratio, and the share of the measured matmul peak."""
    from moelab.benchmarks import lm_bench
    lines = []
    workloads = lm_bench.LM_WORKLOADS[True]
    rows = lm_bench.bench_lm(True, 100.0, workloads, {"steps": (1, 2), "rounds": 1},
                             out=lines.append)
    assert [r.name for r in rows] == ["L1", "L2"]
    for name in ("L1", "L2"):
        line = next(ln for ln in lines if ln.startswith(name))
        assert re.search(r"moelab +\d+ tokens/s +plain torch loop +\d+ tokens/s +\d+\.\d\dx",
                         line), line
        assert re.search(r"GFLOP/s \(plain \d+\.\d\d\) = \d+\.\d % of 100 peak fp32", line)
    for r in rows:
        assert r.ours > 0 and r.plain > 0 and r.flops > 0
    table = lm_bench.table(100.0, rows, workloads)
    assert len(table.splitlines()) == 2 + len(rows)
    assert all(len(ln.split("|")) == 9 for ln in table.splitlines())


def test_lm_flops_count_the_routed_experts_only():
    from moelab.benchmarks.lm_bench import flops_per_token
    from moelab.engine.families.lm.config import LMModel
    dense = LMModel(n_layers=1, d_model=8, context=4, d_mlp=16, vocab_size=300, n_heads=2)
    moe = LMModel(n_layers=1, d_model=8, context=4, d_mlp=16, vocab_size=300, n_heads=2,
                  n_experts=4, k=2)  # experts 8 wide: k · 8 = the dense 16, plus the router
    assert flops_per_token(moe) - flops_per_token(dense) == 3.0 * 2 * 8 * 4
