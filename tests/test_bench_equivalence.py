"""The engine's hand-derived kernels (the compiled CPU kernel and the torch kernel of the
GPU trainer) against the baseline's autograd (benchmarks/reference.py): same losses and
gradients on the same weights and data, and the same trained losses."""

import numpy as np
import pytest
import torch

from moelab.benchmarks.reference import Reference
from moelab.engine.config import ModelConfig
from moelab.engine.cpu.trainer import loss_and_grads
from moelab.engine.data import sample
from moelab.engine.model import init_params
from moelab.engine.torch_trainer import BatchTensors, losses

CASES = [  # (n, m, E, k, gating, reduction, lb_coef)
    (5, 2, 1, 1, "renorm", "sum", 0.0),
    (6, 2, 3, 1, "renorm", "sum", 0.01),
    (6, 2, 3, 1, "switch", "mean", 0.0),
    (6, 2, 4, 2, "renorm", "sum", 0.05),
    (6, 1, 5, 3, "switch", "sum", 0.01),
    (6, 2, 3, 3, "renorm", "mean", 0.01),
    # tiny top-1 shapes: the step generated per shape (engine/cpu/fused.py)
    (3, 2, 3, 1, "renorm", "sum", 0.01),
    (3, 2, 3, 1, "switch", "mean", 0.05),
    (2, 1, 2, 1, "renorm", "sum", 0.05),
    (3, 1, 1, 1, "renorm", "sum", 0.0),
]


def _setup(n, m, E, k, gating, lb, n_inst=3, batch=200, seed=0):
    model = ModelConfig(kind="dense" if E == 1 else "moe", n_features=n, d_hidden=m,
                        n_experts=E, k=k, gating=gating)
    params = init_params([model] * n_inst, list(range(seed, seed + n_inst)), "cpu")
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n_inst, n, generator=g) * 0.6 + 0.2
    imp = torch.rand(n_inst, n, generator=g) + 0.5
    bt = BatchTensors(p=p, importance=imp, last_scale=torch.ones(n_inst),
                      lb_coef=torch.full((n_inst,), lb))
    x = sample(bt.p, bt.last_scale, batch, g)
    # an all-zero input ties every expert, and torch.topk breaks ties its own way for k > 1;
    # a small first feature keeps routing comparable without changing what is tested
    x[:, :, 0].clamp_(min=0.01)
    return params, bt, x


def _baseline(params, bt, x, n, m, E, k, gating, reduction):
    inits = [tuple(t[i].detach().numpy() for t in params.tensors()) for i in range(3)]
    ref = Reference(n, m, E, k, gating, inits, bt.p.numpy(), bt.importance.numpy(),
                    bt.lb_coef.numpy(), x.shape[1], reduction=reduction)
    r_rec, r_lb = ref.loss_fn(ref.params, x, bt.importance[:, None, :], bt.lb_coef)
    (r_rec + r_lb).sum().backward()
    grads = [ref.params[name].grad for name in ("W", "b", "router")]
    return r_rec.detach(), r_lb.detach(), grads


def _assert_same(rec, lb, grads, ref, E):
    r_rec, r_lb, r_grads = ref
    torch.testing.assert_close(torch.as_tensor(rec), r_rec, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(torch.as_tensor(lb), r_lb, rtol=1e-5, atol=1e-7)
    for name, g, r in zip(("W", "b", "router"), grads, r_grads, strict=True):
        if E == 1 and name == "router":
            assert not torch.as_tensor(g).any()
            continue
        torch.testing.assert_close(torch.as_tensor(g), r, rtol=1e-4, atol=1e-6,
                                   msg=lambda s, name=name: f"{name}: {s}")


@pytest.mark.parametrize("case", CASES)
def test_cpu_kernel_gradients_match_baseline_autograd(case):
    n, m, E, k, gating, reduction, lb = case
    params, bt, x = _setup(n, m, E, k, gating, lb)
    (rec, lbl), grads = loss_and_grads(tuple(t.detach().numpy() for t in params.tensors()),
                                       x.numpy(), bt.importance.numpy(), bt.lb_coef.numpy(),
                                       k, gating, reduction)
    _assert_same(rec, lbl, grads, _baseline(params, bt, x, n, m, E, k, gating, reduction), E)


@pytest.mark.parametrize("case", CASES)
def test_torch_kernel_gradients_match_baseline_autograd(case):
    n, m, E, k, gating, reduction, lb = case
    params, bt, x = _setup(n, m, E, k, gating, lb)
    rec, lbl, _ = losses(params, x, bt, k, gating, reduction)
    (rec + lbl).sum().backward()
    ref = _baseline(params, bt, x, n, m, E, k, gating, reduction)
    _assert_same(rec.detach(), lbl.detach(), [t.grad for t in params.tensors()], ref, E)


def test_cpu_kernel_handles_ragged_tiles_and_large_shapes():
    """Batches that are not a multiple of the kernel's tile, many experts, and odd sizes."""
    for n, m, E, k, gating, batch in ((7, 3, 5, 2, "switch", 67), (33, 5, 1, 1, "renorm", 130),
                                      (40, 3, 9, 1, "renorm", 1)):
        params, bt, x = _setup(n, m, E, k, gating, 0.02, batch=batch)
        (rec, lbl), grads = loss_and_grads(
            tuple(t.detach().numpy() for t in params.tensors()), x.numpy(),
            bt.importance.numpy(), bt.lb_coef.numpy(), k, gating)
        _assert_same(rec, lbl, grads, _baseline(params, bt, x, n, m, E, k, gating, "sum"), E)


@pytest.mark.parametrize("n, m, E, gating", [(3, 2, 3, "renorm"), (3, 2, 3, "switch"),
                                             (2, 1, 2, "renorm"), (3, 1, 3, "switch")])
def test_fused_step_matches_the_generic_kernel_with_random_ties(n, m, E, gating):
    """The fused step of tiny shapes against the generic kernel, on data with all-zero
    inputs (every expert tied), random ties for some instances and the lowest for others."""
    from moelab.engine.cpu import fused

    assert fused.fits(n, m, E, 1)
    params, bt, x = _setup(n, m, E, 1, gating, 0.05, n_inst=4, batch=300)
    x[:, ::3] = 0.0  # a third of the samples tie every expert
    args = (tuple(t.detach().numpy() for t in params.tensors()), x.numpy(),
            bt.importance.numpy(), bt.lb_coef.numpy(), 1, gating, "sum", [0, 11, 12, 0])
    (rec, lbl), grads = loss_and_grads(*args)
    (g_rec, g_lb), g_grads = loss_and_grads(*args, generic=True)
    np.testing.assert_allclose(rec, g_rec, rtol=1e-5)
    np.testing.assert_allclose(lbl, g_lb, rtol=1e-5)
    for g, r in zip(grads, g_grads, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-7)


def _train_both(raw: dict, steps: int):
    """Train the same instances with the engine and with the baseline; evaluate both sets of
    weights with the baseline's own loss on one shared batch."""
    import dataclasses

    from moelab.benchmarks.run import make_reference
    from moelab.engine.config import from_dict
    from moelab.engine.sweep import expand
    from moelab.engine.train import train_batch

    runs = expand(from_dict(raw))
    runs = [dataclasses.replace(r, train=dataclasses.replace(r.train, steps=steps))
            for r in runs]
    res = train_batch(runs)
    ref = make_reference(runs, seed=12345)
    for _ in range(steps):
        ref.step()
    x = sample(ref.p, torch.ones(len(runs)), 8192, torch.Generator().manual_seed(99))
    ev_ref = ref.eval_loss(x)
    eng = make_reference(runs)
    with torch.no_grad():
        for name, w in (("W", res.W), ("b", res.b), ("router", res.router)):
            eng.params[name].copy_(torch.from_numpy(w))
    ev_eng = eng.eval_loss(x)
    # and the engine's own loss agrees with the baseline's on the engine's weights, on inputs
    # without routing ties (torch.topk breaks the ties of an all-zero input arbitrarily; the
    # engine gives them to the lowest experts)
    m = runs[0].model
    x_untied = x.clone()
    x_untied[:, :, 0].clamp_(min=0.01)
    (mine, _), _ = loss_and_grads((res.W, res.b, res.router), x_untied.numpy(),
                                  ref.importance.numpy(), ref.lb_coef.numpy(), m.k, m.gating,
                                  runs[0].train.feature_reduction)
    np.testing.assert_allclose(mine, eng.eval_loss(x_untied), rtol=1e-4, atol=1e-7)
    return runs, ev_eng, ev_ref


def _assert_same_within_seed_noise(runs, ev_eng, ev_ref):
    """Per sweep point, the seed-mean eval loss of engine and baseline agree within the
    seed-to-seed spread (4 standard errors of the difference, plus 2% slack)."""
    points = sorted({r.point for r in runs})
    for pt in points:
        sel = np.array([r.point == pt for r in runs])
        a, b = ev_eng[sel], ev_ref[sel]
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) <= 4 * se + 0.02 * b.mean(), (pt, a, b)


def test_trained_losses_match_baseline_small():
    raw = {"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1},
           "train": {"batch_size": 128, "lb_coef": 0.01, "lr": 2e-2, "seeds": 8,
                     "select": "all", "eval_samples": 512},
           "sweep": {"data.sparsity": [0.3, 0.8]}}
    _assert_same_within_seed_noise(*_train_both(raw, 100))


@pytest.mark.slow
@pytest.mark.parametrize("model", [
    {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1},
    {"kind": "dense", "n_features": 20, "d_hidden": 5},
    {"kind": "moe", "n_features": 20, "d_hidden": 2, "n_experts": 10, "k": 2},
    {"kind": "moe", "n_features": 100, "d_hidden": 10, "n_experts": 10, "k": 1},
])
def test_trained_losses_match_baseline(model):
    raw = {"model": model, "data": {"importance": {"decay": 0.9}},
           "train": {"batch_size": 512, "lb_coef": 0.01, "seeds": 10, "select": "all",
                     "eval_samples": 512},
           "sweep": {"data.sparsity": [0.5, 0.9]}}
    _assert_same_within_seed_noise(*_train_both(raw, 3000))


def test_logged_router_grad_norm_is_exactly_zero_for_k1_renorm_without_lb():
    from moelab.engine.config import from_dict
    from moelab.engine.sweep import expand
    from moelab.engine.train import train_batch

    def run(gating, lb):
        raw = {"model": {"kind": "moe", "n_features": 4, "d_hidden": 2, "n_experts": 3,
                         "k": 1, "gating": gating},
               "train": {"steps": 20, "batch_size": 64, "lb_coef": lb, "log_every": 5,
                         "eval_samples": 256}}
        return train_batch(expand(from_dict(raw))).log["router_grad_norm"]

    assert (run("renorm", 0.0) == 0).all()
    assert (run("renorm", 0.01) > 0).all()
    assert (run("switch", 0.0) > 0).all()


def test_gpu_trainer_trains_like_the_cpu_trainer():
    """The GPU trainer (torch_step, run-keyed data), run here on the CPU, reaches the same
    losses as the CPU trainer within seed noise: the CUDA path is checked without a GPU."""
    from moelab.benchmarks.run import make_reference
    from moelab.engine.config import from_dict
    from moelab.engine.cpu.trainer import CpuTrainer
    from moelab.engine.model import init_instance
    from moelab.engine.sweep import expand
    from moelab.engine.torch_trainer import TorchTrainer
    from moelab.engine.train import BatchSettings, data_key

    runs = expand(from_dict({
        "model": {"kind": "moe", "n_features": 4, "d_hidden": 2, "n_experts": 3, "k": 2},
        "train": {"batch_size": 128, "lb_coef": 0.01, "lr": 2e-2, "seeds": 8,
                  "select": "all"},
        "sweep": {"data.sparsity": [0.3, 0.8]}}))
    parts = [init_instance(r.model, r.seed) for r in runs]
    init = tuple(np.stack([p[i] for p in parts]) for i in range(3))
    settings = BatchSettings.of(runs)
    common = dict(k=2, gating="renorm", reduction="sum", batch_size=128, lr=2e-2,
                  weight_decay=0.01)
    cpu = CpuTrainer(init, settings, [data_key(r) for r in runs], threads=2, **common)
    gpu_path = TorchTrainer(init, settings, [data_key(r) for r in runs], device="cpu", **common)
    for t in range(1, 151):
        cpu.step(t)
        gpu_path.step(t)
    x = sample(torch.as_tensor(settings.p, dtype=torch.float32), torch.ones(len(runs)), 8192,
               torch.Generator().manual_seed(5))
    losses_of = []
    for trainer in (cpu, gpu_path):
        ref = make_reference(runs)
        with torch.no_grad():
            for name, w in zip(("W", "b", "router"), trainer.weights(), strict=True):
                ref.params[name].copy_(torch.from_numpy(w))
        losses_of.append(ref.eval_loss(x))
    cpu.close()
    _assert_same_within_seed_noise(runs, *losses_of)
