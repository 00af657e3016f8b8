"""The torch (GPU) trainer, run here on the CPU (issue 22, target 5): run-keyed data and ties,
a run trains to bitwise the same weights alone and in any batch, the step traces into one
graph, its maths is the reference kernel's, and it trains like the CPU trainer."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from moelab.engine import torch_rng, torch_step
from moelab.engine.config import from_dict
from moelab.engine.data import Sampler
from moelab.engine.model import Kernel
from moelab.engine.sweep import expand
from moelab.engine.train import data_key, make_trainer, train_batch

_M = (1 << 64) - 1


@pytest.fixture
def one_thread():
    """Eager torch on two shared cores is far faster on one thread (many tiny ops)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _splitmix_finaliser(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


def test_int64_hash_is_the_uint64_splitmix_finaliser():
    rng = random.Random(3)
    xs = [rng.getrandbits(64) for _ in range(2000)] + [0, 1, _M, 1 << 63, (1 << 63) - 1]
    got = torch_rng.mix64(torch_rng.keys_tensor(xs, "cpu")).tolist()
    assert [g & _M for g in got] == [_splitmix_finaliser(x) for x in xs]
    u = torch_rng.uniforms(torch_rng.step_keys(torch_rng.keys_tensor([5, _M], "cpu"),
                                               torch.tensor(1)),
                           torch_rng.positions((3, 4000), "cpu"))
    assert u.dtype == torch.float32 and 0 <= float(u.min()) and float(u.max()) < 1
    assert torch.equal(u * 2**24, (u * 2**24).round())  # exactly 24-bit
    assert abs(float(u.mean()) - 0.5) < 0.01


def test_sampler_stream_depends_on_its_key_and_step_only():
    p = torch.full((3, 4), 0.5)
    ones = torch.ones(3)
    a = Sampler(p, ones, 100, [7, 8, 9])
    b = Sampler(p[1:], ones[1:], 100, [8, 9])
    xa, xb = a.draw(), b.draw()
    assert torch.equal(xa[1:], xb)  # what else is drawn alongside does not matter
    assert not torch.equal(xa[0], xa[1])
    assert not torch.equal(a.draw(), xa)  # a new step draws new numbers
    assert torch.equal(Sampler(p, ones, 100, [7, 8, 9]).draw(torch.tensor(2)), a.draw(2))
    # a longer batch starts with the shorter one's samples (positions are sample-major)
    assert torch.equal(Sampler(p, ones, 150, [7, 8, 9]).draw(1)[:, :, :100], xa)


_SWEEP = {"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1,
                    "tie_break": "random"},
          "data": {"importance": "uniform"},
          "train": {"steps": 30, "batch_size": 64, "lb_coef": 0.01, "seeds": 2,
                    "select": "all", "eval_samples": 300, "log_every": 10},
          "sweep": {"data.sparsity": [0.3, 0.9], "data.last_importance": [0.5, 2.0]}}


def _same(a, b, i, j):
    return all(np.array_equal(getattr(a, f)[i], getattr(b, f)[j])
               for f in ("W", "b", "router", "eval_loss", "final_loss"))


@pytest.mark.parametrize("k", [1, 2])
def test_run_trains_bitwise_alike_alone_and_in_any_batch(k):
    raw = {**_SWEEP, "model": {**_SWEEP["model"], "k": k}}
    runs = expand(from_dict(raw))
    full = train_batch(runs, device="torch-cpu")
    order = list(range(len(runs)))
    random.Random(k).shuffle(order)
    sub = order[:5]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # and on another number of threads
        part = train_batch([runs[i] for i in sub], device="torch-cpu")
        alone = train_batch([runs[sub[0]]], device="torch-cpu")
    finally:
        torch.set_num_threads(threads)
    for j, i in enumerate(sub):
        assert _same(full, part, i, j), i
    assert _same(full, alone, sub[0], 0)
    # and the runs differ: ties and data are random per run, not one stream for the batch
    assert not np.array_equal(full.W[0], full.W[1])


def test_each_instance_is_keyed_by_its_runs_data_key():
    """Dense and MoE runs with the same data settings and seed see the same inputs."""
    raw = {**_SWEEP, "sweep": {"variants": [{"model": {"kind": "dense"}}, {"model": {}}]}}
    runs = expand(from_dict(raw))
    moe = [r for r in runs if r.model.kind == "moe"]
    trainer = make_trainer(moe, "torch-cpu")
    assert trainer.consts.keys.tolist() == [torch_rng.signed64(data_key(r)) for r in moe]
    dense = [data_key(r) for r in runs if r.model.kind == "dense"]
    assert dense == [data_key(r) for r in moe]  # seed by seed


def _kernel_case(n, m, E, k, gating, reduction, lb, I=3, B=150):
    g = torch.Generator().manual_seed(n * 100 + E * 10 + k)
    W = torch.randn(I, E, m, n, generator=g) * 0.5
    b = torch.randn(I, E, n, generator=g) * 0.1
    R = torch.randn(I, E, n, generator=g)
    x = Sampler(torch.rand(I, n, generator=g) * 0.6 + 0.2, torch.ones(I), B,
                [11, 12, 13][:I]).draw()
    x[:, 0].clamp_(min=0.01)  # no exact routing ties: both sides send them alike anyway
    imp, lbc = torch.rand(I, n, generator=g) + 0.5, torch.full((I,), lb)
    return W, b, R, x, imp, lbc


@pytest.mark.parametrize("case", [(5, 2, 1, 1, "renorm", "sum", 0.0),
                                  (6, 2, 3, 1, "renorm", "sum", 0.01),
                                  (6, 2, 4, 2, "renorm", "mean", 0.05),
                                  (6, 1, 5, 3, "switch", "sum", 0.01)])
def test_step_maths_is_the_reference_kernels(case, one_thread):
    """torch_step's forward and backward against model.Kernel (itself held to the baseline's
    autograd in test_bench_equivalence)."""
    n, m, E, k, gating, reduction, lb = case
    W, b, R, x, imp, lbc = _kernel_case(n, m, E, k, gating, reduction, lb)
    kern = Kernel(k, gating, reduction)
    rec, lbl = kern.forward(W, b, R, x, imp, lbc)
    want = [torch.empty_like(W), torch.empty_like(b), torch.empty_like(R)]
    kern.backward(torch.ones(3), torch.ones(3), *want)
    rec2, lb2, cache = torch_step.forward(W, b, R, x, imp, lbc, k, gating, reduction)
    got = torch_step.backward(cache)
    torch.testing.assert_close(rec2, rec, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(lb2, lbl, rtol=1e-6, atol=1e-7)
    for g_, w_ in zip(got, want, strict=True):
        torch.testing.assert_close(g_, w_, rtol=1e-5, atol=1e-7)


def test_step_traces_into_one_graph_without_host_syncs(one_thread):
    """fullgraph tracing fails on any graph break, .item() and other host reads included: the
    step that CUDA compiles (inductor, CUDA graphs) is one graph. Traced here with the eager
    backend, it trains as the plain step does."""
    runs = expand(from_dict(_SWEEP))[:6]
    plain, traced = make_trainer(runs, "torch-cpu"), make_trainer(runs, "torch-cpu")
    tr = traced
    explained = torch._dynamo.explain(torch_step.train_step)(
        tr.flat.clone(), tr.m.clone(), tr.v.clone(), tr.t.clone(), tr.consts, tr.shapes,
        tr.upto, tr.k, tr.gating, tr.reduction)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    traced._step = torch.compile(torch_step.train_step, backend="eager", fullgraph=True)
    out_p, out_t = plain.steps(1, 4), traced.steps(1, 4)
    for a, b in zip(plain.weights() + out_p, traced.weights() + out_t, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="step 3"):
        plain.steps(3, 5)  # the device keeps the step count: no skipping or repeating


def test_torch_trainer_trains_like_the_cpu_trainer_on_a_w1_sweep(one_thread):
    """W1's shape (n=3, m=2, E=3, k=1, random ties as fig4): per sweep point, the seed-mean
    eval loss of the two trainers agrees within seed noise, and training lowered it."""
    raw = {"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1,
                     "tie_break": "random"},
           "data": {"importance": {"decay": 0.9}},
           "train": {"steps": 300, "batch_size": 128, "lb_coef": 0.01, "lr": 1e-2,
                     "seeds": 8, "select": "all", "eval_samples": 2048, "log_every": 100},
           "sweep": {"data.sparsity": [0.5, 0.9]}}
    runs = expand(from_dict(raw))
    gpu_path, cpu = train_batch(runs, device="torch-cpu"), train_batch(runs, device="cpu")
    assert (gpu_path.log["rec_loss"][:, -1] < gpu_path.log["rec_loss"][:, 0]).all()
    for pt in sorted({r.point for r in runs}):
        sel = np.array([r.point == pt for r in runs])
        a, b = gpu_path.eval_loss[sel], cpu.eval_loss[sel]
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) <= 4 * se + 0.02 * b.mean(), (pt, a, b)


def test_gpu_fig4_script_smoke_run_on_the_cpu(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "moelab.benchmarks.gpu_fig4", "--quick", "--device",
         "torch-cpu", "--steps", "8", "--limit", "1", "--seeds", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"})  # eager tiny ops: one thread is faster
    assert proc.returncode == 0, proc.stderr
    assert "models/s" in proc.stdout and "alone == in batch: True" in proc.stdout
    assert '"models": 8' in out.read_text()  # fig4's 8 model shapes, one run each
    if not torch.cuda.is_available():
        bad = subprocess.run([sys.executable, "-m", "moelab.benchmarks.gpu_fig4"],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and bad.stderr.startswith("moelab: ")
