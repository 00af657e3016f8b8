"""Initialisation and routing ties (issue 12): the expert init's scale against its formula,
a run's start the same alone and in any sweep, and who wins a tie."""

import dataclasses

import numpy as np
import pytest
import torch

from moelab.engine import torch_rng, torch_step
from moelab.engine.config import ConfigError, ModelConfig, from_dict
from moelab.engine.cpu.trainer import loss_and_grads
from moelab.engine.inits import expert_std, init_instance, init_key, init_run, tie_key
from moelab.engine.sweep import expand


@pytest.mark.parametrize("expert_init,formula", [
    ("authors", lambda E, m, n: (2 / (m * (n + E))) ** 0.5),
    ("per_expert", lambda E, m, n: (2 / (n + m)) ** 0.5)])
def test_expert_init_std_matches_its_formula(expert_init, formula):
    E, m, n = 3, 2, 20
    model = ModelConfig(kind="moe", n_features=n, d_hidden=m, n_experts=E,
                        expert_init=expert_init)
    assert expert_std(model) == pytest.approx(formula(E, m, n))
    W = np.concatenate([init_instance(model, s)[0].ravel() for s in range(200)])  # 24,000
    # the sample std of 24,000 normals is within 2 % of the truth far beyond 4 sigma
    assert W.std() == pytest.approx(formula(E, m, n), rel=0.02)
    assert abs(W.mean()) < 4 * formula(E, m, n) / len(W) ** 0.5


def test_authors_scale_is_smaller_for_the_papers_moe_setups():
    for E, m, n in ((2, 3, 20), (3, 2, 20), (3, 1, 3), (10, 10, 100)):
        authors = expert_std(ModelConfig(n_features=n, d_hidden=m, n_experts=E))
        mine = expert_std(ModelConfig(n_features=n, d_hidden=m, n_experts=E,
                                      expert_init="per_expert"))
        assert authors < mine


def _sweep(**sweep):
    return from_dict({"model": {"kind": "moe", "n_features": 3, "d_hidden": 1,
                                "n_experts": 3, "router_init": "random_khot"},
                      "train": {"seeds": 2}, "sweep": sweep})


def test_a_runs_init_is_the_same_alone_and_in_any_sweep():
    alone = expand(_sweep(**{"data.sparsity": [0.9]}))
    big = expand(_sweep(**{"data.sparsity": [0.5, 0.9, 0.95],
                           "data.last_importance": [1.0, 2.0]}))
    twin = [r for r in big if r.data.sparsity == 0.9 and r.data.last_importance == 1.0]
    assert [r.seed for r in twin] == [r.seed for r in alone]
    for a, b in zip(alone, twin, strict=True):
        for x, y in zip(init_run(a), init_run(b), strict=True):
            assert np.array_equal(x, y)


def test_sweep_points_with_the_same_seed_start_differently():
    runs = expand(_sweep(**{"data.sparsity": [0.5, 0.9]}))
    same_seed = [r for r in runs if r.seed == 0]
    assert len({init_key(r) for r in same_seed}) == 2
    W0, W1 = (init_run(r)[0] for r in same_seed)
    assert not np.array_equal(W0, W1)


def test_train_settings_do_not_move_the_start():
    a = expand(_sweep(**{"data.sparsity": [0.9]}))[0]
    b = dataclasses.replace(a, train=dataclasses.replace(a.train, steps=7, lr=0.1,
                                                         lb_coef=0.5))
    assert init_key(a) == init_key(b)
    assert init_key(a) != init_key(dataclasses.replace(a, seed=a.seed + 1))


def test_tie_break_is_a_validated_field_and_keys_only_random_runs():
    with pytest.raises(ConfigError, match="expert_init.*authors, per_expert; "
                                          "model.tie_break.*lowest, random"):
        from_dict({"model": {"tie_break": "first", "expert_init": "big"}})
    runs = expand(_sweep(**{"model.tie_break": ["lowest", "random"]}))
    keys = [tie_key(r) for r in runs]
    assert keys[:2] == [0, 0] and all(k != 0 for k in keys[2:]) and keys[2] != keys[3]


# ------------------------------------------------------------------ who wins a tie

def _zero_input_shares(k: int, tie_keys, n_inst: int = 2, E: int = 3, B: int = 6000):
    """Share of all-zero inputs routed to each expert by the CPU kernel: with b = 1 and
    x = 0 every routed sample adds the same amount to its expert's bias gradient."""
    n, m = 2, 1
    W = np.zeros((n_inst, E, m, n), np.float32)
    b = np.ones((n_inst, E, n), np.float32)
    R = np.random.default_rng(0).normal(size=(n_inst, E, n)).astype(np.float32)
    x = np.zeros((n_inst, B, n), np.float32)
    _, (_, db, _) = loss_and_grads((W, b, R), x, np.ones((n_inst, n)), np.zeros(n_inst), k,
                                   "renorm", tie_keys=tie_keys)
    per_expert = db.sum(-1)
    return per_expert / per_expert.sum(-1, keepdims=True) * k


def test_cpu_ties_go_to_the_lowest_expert_by_default():
    shares = _zero_input_shares(1, None)
    assert shares.tolist() == [[1, 0, 0], [1, 0, 0]]
    assert _zero_input_shares(2, None)[0].tolist() == [1, 1, 0]


@pytest.mark.parametrize("k", [1, 2])
def test_cpu_random_ties_spread_evenly_per_instance(k):
    shares = _zero_input_shares(k, [0, 12345])
    assert shares[0].tolist() == ([1, 0, 0] if k == 1 else [1, 1, 0])  # key 0: lowest
    # 6000 samples: each share's standard error is below 0.007; 0.03 is > 4 of them
    assert shares[1] == pytest.approx(np.full(3, k / 3), abs=0.03)
    again = _zero_input_shares(k, [0, 12345])
    assert np.array_equal(shares, again)  # seeded: the same key draws the same choices
    assert not np.array_equal(shares[1], _zero_input_shares(k, [0, 999])[1])


@pytest.mark.parametrize("k", [1, 2])
def test_torch_random_ties_spread_evenly_per_instance(k):
    I, E, n, B = 2, 3, 2, 6000
    # the torch trainer's ties: uniforms keyed by (tie key, step, sample, expert)
    prio = torch_step.tie_priority(E, torch_rng.keys_tensor([0, 77], "cpu"),
                                   torch.tensor([False, True]), torch.tensor(3),
                                   torch_rng.positions((E, B), "cpu"))
    W = torch.zeros(I, E, 1, n)
    b = torch.ones(I, E, n)
    R = torch.randn(I, E, n, generator=torch.Generator().manual_seed(0))
    *_, c = torch_step.forward(W, b, R, torch.zeros(I, n, B), torch.ones(I, n), torch.zeros(I),
                               k, "renorm", "sum", prio)
    shares = c["f"]  # (I, E) the share of samples routed to each expert
    assert shares[0].tolist() == ([1, 0, 0] if k == 1 else [1, 1, 0])
    assert shares[1].numpy() == pytest.approx(np.full(3, k / 3), abs=0.03)
