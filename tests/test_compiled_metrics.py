"""The compiled per-run metrics (engine/cpu/metrics.py) against their NumPy definitions
(engine/metrics.py, engine/lens.py) on the same inputs: routing statistics with and without
random ties, Table 1's dense-input usages and MoE Lens, for k = 1, k > 1 and k = E."""

from __future__ import annotations

import numpy as np
import pytest

from moelab.engine import lens as L
from moelab.engine import metrics as M
from moelab.engine.cpu import metrics_run as R
from moelab.engine.data import sample_numpy

SHAPES = [(3, 2, 3, 1, 30), (3, 1, 3, 2, 20), (12, 4, 4, 2, 4), (5, 2, 4, 4, 4), (4, 2, 1, 1, 3)]


def _model(n, m, E, inst, seed=1):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(inst, E, m, n))
    b = rng.normal(size=(inst, E, n)) * 0.1
    router = rng.normal(size=(inst, E, n))
    router[0] = 0.0  # every input ties every expert
    p = rng.uniform(0.05, 0.9, size=(inst, n))
    last_scale = rng.uniform(0.5, 2.0, size=inst)
    mono = M.monosemantic(W, M.DEFAULT_THRESHOLDS) | (rng.random((inst, E, n)) < 0.3)
    mono[-1] = False  # an instance without monosemantic features: NaN usages
    return W, b, router, p, last_scale, mono, rng.random(inst) < 0.5


@pytest.mark.parametrize("shape", SHAPES)
def test_routing_statistics_match_numpy(shape):
    n, m, E, k, inst = shape
    W, b, router, p, ls, mono, ties = _model(n, m, E, inst)
    x = sample_numpy(p, ls, 512, 7).astype(np.float64)
    for random_ties in (None, ties):
        want = M.routing_stats(W, b, router, x, k, mono, random_ties)
        got = R.routing_stats(W, b, router, k, p, ls, mono, random_ties, 512, 7)
        for field, value in got.items():
            np.testing.assert_allclose(value, getattr(want, field), rtol=1e-9, atol=1e-12,
                                       err_msg=field)


@pytest.mark.parametrize("shape", SHAPES)
def test_dense_usage_matches_numpy(shape):
    n, m, E, k, inst = shape
    _, _, router, _, _, mono, _ = _model(n, m, E, inst)
    x = np.random.default_rng(3).random((256, n))
    want = M.dense_usage(router, k, mono, x)
    for field, value in R.dense_usage(router, k, mono, x).items():
        np.testing.assert_allclose(value, getattr(want, field), rtol=1e-9, err_msg=field)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gating", ["renorm", "switch"])
def test_lens_matches_numpy(shape, gating):
    n, m, E, k, inst = shape
    W, b, router, p, ls, _, _ = _model(n, m, E, inst)
    importance = np.random.default_rng(2).uniform(0.5, 1.0, size=(inst, n))
    x = sample_numpy(p, ls, 256, 9).astype(np.float64)
    want = L.lens(W, b, router, x, k, gating, importance, "mean")
    got = L.lens_tables(W, b, router, k, gating, importance, p, ls, "mean")
    assert L.LENS_SAMPLES != 256  # lens_tables draws its own sample: compare the kernel
    sums = R.lens(W, b, router, k, gating, importance, p, ls, 256, 9, 1.0 / n)
    for field in ("full_loss", "top1_loss", "ablation_loss"):
        np.testing.assert_allclose(sums[field], want[field], rtol=1e-9, err_msg=field)
    shares = L._concentration(sums["usage"])
    for field in ("top_share", "top_quarter_share", "routing_entropy"):
        np.testing.assert_allclose(shares[field], want[field], rtol=1e-9, err_msg=field)
        assert got["lens"][field].shape == (inst,)
    if k == 1 and gating == "renorm":
        np.testing.assert_allclose(got["lens"]["top1_loss_ratio"], 1.0)
