"""MoE Lens on toy MoEs (issue 14): facts with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from moelab.engine.lens import lens


def _model(E: int = 3, m: int = 2, n: int = 5, inst: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(inst, E, m, n))
    b = rng.normal(size=(inst, E, n)) * 0.1
    router = rng.normal(size=(inst, E, n))
    x = rng.random((inst, 512, n)) * (rng.random((inst, 512, n)) < 0.4)
    return W, b, router, x, np.ones((inst, n))


@pytest.mark.parametrize("gating", ["renorm", "switch"])
def test_top1_only_loss_equals_the_full_loss_when_k_is_1(gating):
    W, b, router, x, imp = _model()
    out = lens(W, b, router, x, 1, gating, imp)
    assert np.array_equal(out["top1_loss"], out["full_loss"])
    assert np.all(out["top1_loss_ratio"] == 1.0)


def test_top1_only_loss_differs_when_k_is_2():
    W, b, router, x, imp = _model()
    out = lens(W, b, router, x, 2, "renorm", imp)
    assert not np.allclose(out["top1_loss"], out["full_loss"])


@pytest.mark.parametrize("k", [1, 2])
def test_ablating_an_unused_expert_changes_nothing(k):
    W, b, router, x, imp = _model(E=4)
    router[:, 3] = -5.0  # x >= 0: expert 3 never makes the top k (ties go to lower experts)
    out = lens(W, b, router, x, k, "renorm", imp)
    assert np.all(out["ablation_loss"][:, 3] == out["full_loss"])
    assert np.all(out["ablation_loss_ratio"][:, 3] == 1.0)
    used = out["ablation_loss_ratio"][:, :3]
    assert np.all((used != 1.0).any(1))  # removing a used expert sends its inputs elsewhere


def test_concentration_of_a_router_that_sends_everything_to_one_expert():
    W, b, router, x, imp = _model(E=4)
    router[:] = -5.0
    router[:, 2] = 5.0
    x[:, :, 0] += 0.01  # no all-zero input: every input has a clear winner
    out = lens(W, b, router, x, 1, "renorm", imp)
    assert np.allclose(out["top_share"], 1.0) and np.allclose(out["top_quarter_share"], 1.0)
    assert np.allclose(out["routing_entropy"], 0.0)
    uniform = lens(W, b, np.zeros_like(router), x, 4, "renorm", imp)  # k = E: even shares
    assert np.allclose(uniform["routing_entropy"], np.log(4))
    assert np.allclose(uniform["top_share"], 0.25)
