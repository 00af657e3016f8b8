"""Facts with known answers (DESIGN: tests)."""

import numpy as np
import pytest
import torch
from runner_support import run_in_memory

from moelab.engine import metrics as M
from moelab.engine.config import ModelConfig, from_dict
from moelab.engine.cpu.trainer import loss_and_grads
from moelab.engine.data import importance, sample
from moelab.engine.model import Params, forward, init_instance, init_params
from moelab.engine.sweep import expand
from moelab.engine.torch_trainer import BatchTensors, losses


def W_of(*experts):
    """(1, E, m, n) from per-expert m×n lists."""
    return np.asarray([experts], dtype=np.float64)


def test_antipodal_pair_has_dimensionality_half():
    W = W_of([[1.0, -1.0]])  # m=1, n=2: two features share one dimension, opposite signs
    assert M.dimensionality(W) == pytest.approx(np.full((1, 1, 2), 0.5))
    assert M.superposition(W) == pytest.approx(np.ones((1, 1, 2)))
    assert M.capacity(W) == pytest.approx([1.0])  # efficient packing: Σ D = m


def test_orthogonal_features_have_dimensionality_one():
    W = W_of(np.eye(3)[:, :3] * 2.0)
    assert M.dimensionality(W) == pytest.approx(np.ones((1, 1, 3)))
    assert M.superposition(W) == pytest.approx(np.zeros((1, 1, 3)))
    assert M.monosemantic(W).all()


def test_tiny_feature_reports_zero_not_noise():
    W = W_of([[1.0, 1e-6], [0.0, 1e-7]])
    assert M.dimensionality(W)[0, 0, 1] == 0.0
    assert M.superposition(W)[0, 0, 1] == 0.0
    # and the strong feature is not polluted by the tiny one
    assert M.dimensionality(W)[0, 0, 0] == pytest.approx(1.0)


def test_superposition_all_includes_self_term():
    W = W_of([[1.0, 0.5]])
    sp, sp_all = M.superposition(W), M.superposition(W, include_self=True)
    norms = M.feature_norms(W)
    assert sp_all - sp == pytest.approx(norms**2)


def test_specialization_sums_to_one_over_experts():
    W = np.random.default_rng(0).normal(size=(2, 3, 2, 4))
    assert M.specialization(W).sum(1) == pytest.approx(np.ones((2, 4)))


def test_features_per_dimension_dense_is_frobenius_over_m():
    W = np.random.default_rng(1).normal(size=(3, 1, 5, 20))
    fpd = M.features_per_dimension(W, np.ones((3, 1)), k=1)
    assert fpd == pytest.approx((W**2).sum((1, 2, 3)) / 5)


def test_occupancy_follows_router_columns():
    router = np.array([[[2.0, 0.0, 0.1], [0.0, 3.0, 0.0]]])  # E=2, n=3
    occ = M.occupied(router, k=1)
    assert occ[0].tolist() == [[True, False, True], [False, True, False]]


def _moe_batch(gating: str, k: int = 1, lb: float = 0.0, n_inst: int = 2):
    model = ModelConfig(kind="moe", n_features=4, d_hidden=2, n_experts=3, k=k, gating=gating)
    params = init_params([model] * n_inst, list(range(n_inst)), "cpu")
    bt = BatchTensors(p=torch.full((n_inst, 4), 0.5), importance=torch.ones(n_inst, 4),
                      last_scale=torch.ones(n_inst), lb_coef=torch.full((n_inst,), lb))
    x = sample(bt.p, bt.last_scale, 256, torch.Generator().manual_seed(0))
    return model, params, bt, x


def _cpu_kernel(params, x, bt, k, gating):
    (rec, lb), grads = loss_and_grads(tuple(t.detach().numpy() for t in params.tensors()),
                                      x.numpy(), bt.importance.numpy(), bt.lb_coef.numpy(),
                                      k, gating)
    return rec, lb, [torch.from_numpy(g) for g in grads]


def _torch_kernel(params, x, bt, k, gating):
    params = Params(*(t.detach().clone().requires_grad_() for t in params.tensors()))
    rec, lb, _ = losses(params, x, bt, k, gating, "sum")
    (rec + lb).sum().backward()
    return rec.detach().numpy(), lb.detach().numpy(), [t.grad for t in params.tensors()]


KERNELS = pytest.mark.parametrize("kernel", [_cpu_kernel, _torch_kernel], ids=["cpu", "torch"])


@KERNELS
def test_k1_renormalised_gating_gives_router_no_gradient(kernel):
    model, params, bt, x = _moe_batch("renorm")
    _, _, (dW, _, dR) = kernel(params, x, bt, 1, "renorm")
    assert torch.count_nonzero(dR) == 0
    assert dW.abs().sum() > 0


@KERNELS
def test_switch_gating_and_load_balancing_give_router_gradient(kernel):
    for gating, lb in (("switch", 0.0), ("renorm", 0.01)):
        model, params, bt, x = _moe_batch(gating, lb=lb)
        _, _, (_, _, dR) = kernel(params, x, bt, 1, gating)
        assert dR.abs().sum() > 0, gating


@KERNELS
def test_instance_gradient_does_not_depend_on_batch_size(kernel):
    _, params, bt, x = _moe_batch("switch", n_inst=3)
    _, _, (dW, _, _) = kernel(params, x, bt, 1, "switch")
    solo = Params(*(t.detach()[:1].clone() for t in params.tensors()))
    bt1 = BatchTensors(bt.p[:1], bt.importance[:1], bt.last_scale[:1], bt.lb_coef[:1])
    _, _, (dW1, _, _) = kernel(solo, x[:1], bt1, 1, "switch")
    torch.testing.assert_close(dW1[0], dW[0])


@KERNELS
def test_balanced_routing_load_balancing_loss_is_alpha(kernel):
    # a zero router gives uniform probabilities; the top-1 tie goes to expert 0, so f = (1,0,0)
    # and P = 1/3 each: L = α·E·Σ f·P = α
    model, params, bt, x = _moe_batch("renorm", lb=0.01)
    with torch.no_grad():
        params.router.zero_()
    _, lb, _ = kernel(params, x, bt, 1, "renorm")
    assert lb == pytest.approx([0.01, 0.01])


def test_dense_equals_moe_with_one_expert():
    _, params, bt, x = _moe_batch("renorm")
    one = Params(params.W[:, :1], params.b[:, :1], params.router[:, :1])
    dense, _ = forward(one, x, 1, "renorm")
    moe_1 = torch.einsum("ibe,iebn->ibn", torch.ones(2, 256, 1),
                         torch.relu(torch.einsum("iemn,iemk,ibk->iebn", one.W, one.W, x)
                                    + one.b[:, :, None]))
    torch.testing.assert_close(dense, moe_1)


def test_sparsity_and_values_of_sampled_data():
    p = torch.tensor([[0.1, 1.0, 0.5]])
    x = sample(p, torch.ones(1), 200_000, torch.Generator().manual_seed(0))
    active = (x > 0).float().mean((0, 1))
    assert active == pytest.approx(torch.tensor([0.1, 1.0, 0.5]), abs=0.01)
    nz = x[x > 0]
    assert float(nz.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(nz.max()) < 1.0


def test_importance_forms():
    cfg = from_dict({"model": {"n_features": 5}, "data": {"importance": {"decay": 0.7},
                                                          "last_importance": 2.0}})
    imp = importance(cfg.data, 5, seed=0)
    assert imp == pytest.approx([1, 0.7, 0.49, 0.343, 0.2401 * 2])
    perm = from_dict({"model": {"n_features": 5},
                      "data": {"importance": {"decay": 0.7, "permute": True}}})
    a, b = importance(perm.data, 5, 1), importance(perm.data, 5, 1)
    assert (a == b).all() and sorted(a) == pytest.approx(sorted(0.7 ** np.arange(5)))
    assert any((importance(perm.data, 5, s) != a).any() for s in range(2, 6))


def test_router_inits():
    base = dict(kind="moe", n_features=6, d_hidden=2, n_experts=3)
    diag = init_instance(ModelConfig(**base, router_init="diagonal"), 0)[2]
    assert (diag == np.eye(3, 6)).all()
    ordered = init_instance(ModelConfig(**base, router_init="ordered_khot"), 0)[2]
    assert ordered.tolist() == [[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]]
    rand = init_instance(ModelConfig(**base, router_init="random_khot"), 3)[2]
    assert (rand.sum(0) == 1).all() and (rand.sum(1) == 2).all()
    assert (init_instance(ModelConfig(**base, router_init="zeros"), 0)[2] == 0).all()


def _tiny(**train):
    return from_dict({"model": {"kind": "moe", "n_features": 3, "d_hidden": 2,
                                "n_experts": 2, "k": 1},
                      "train": {"steps": 30, "batch_size": 64, "eval_samples": 500, **train},
                      "sweep": {"data.sparsity": [0.5, 0.9]}})


def test_same_seed_same_weights_and_different_seed_differs():
    a = run_in_memory(_tiny(seed=3), "cpu")
    b = run_in_memory(_tiny(seed=3), "cpu")
    c = run_in_memory(_tiny(seed=4), "cpu")
    wa, wb, wc = (r.chunks[0]["weights"]["W"] for r in (a, b, c))
    assert np.array_equal(wa, wb)
    assert not np.array_equal(wa, wc)


def test_training_reduces_loss():
    r = run_in_memory(from_dict({"model": {"kind": "dense", "n_features": 5, "d_hidden": 2},
                                  "data": {"sparsity": 0.7},
                                  "train": {"steps": 400, "log_every": 50, "lr": 1e-2}}),
                       "cpu")
    m = r.chunks[0]["metrics"]
    loss = m["value"][[n == "loss" for n in m["name"]]]
    assert loss[-1] < 0.7 * loss[0]


def test_a_run_trains_the_same_alone_in_a_sweep_and_on_any_thread_count():
    from moelab.engine.train import train_batch
    runs = expand(_tiny(seeds=2, steps=40, lb_coef=0.01))
    together = train_batch(runs)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = train_batch(runs[3:4])
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(alone.W[0], together.W[3])
    assert np.array_equal(alone.router[0], together.router[3])
    assert alone.eval_loss[0] == together.eval_loss[3]
    assert not np.array_equal(together.W[2], together.W[3])  # another seed differs
