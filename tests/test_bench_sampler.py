"""The engine's training data is distributed as SPEC says: each feature independently 0 with
probability S, else U[0, 1]; deterministic per key. Checked for the CPU engine's compiled
streams (engine/cpu/rng.py) and the GPU trainer's torch stream (data.Sampler, here on CPU)."""

import numpy as np
import pytest
import torch

from moelab.engine.cpu.rng import LANES, fill_sparse, seed_states
from moelab.engine.data import Sampler


def _cpu_stream(p, batch, keys, last_scale=None, repeats=5, width=LANES):
    """(inst, n, repeats·batch) drawn as the CPU trainer draws them, into tiles of width."""
    p = np.asarray(p, dtype=np.float64)
    n_inst, n = p.shape
    ls = np.ones(n_inst, np.float32) if last_scale is None else np.asarray(last_scale)
    state = seed_states(keys)
    x = np.zeros((-(-batch // width), n, width), np.float32)
    out = []
    for _ in range(repeats):
        for i in range(n_inst):
            fill_sparse(state[i], (-1 / p[i]).astype(np.float32), np.float32(ls[i]), batch, x)
            out.append(x.transpose(1, 0, 2).reshape(n, -1)[:, :batch].copy())
    return np.stack(out).reshape(repeats, n_inst, n, batch).transpose(1, 2, 0, 3).reshape(
        n_inst, n, repeats * batch)


def _torch_stream(p, batch, seed, last_scale=None, repeats=5):
    p = torch.as_tensor(np.asarray(p), dtype=torch.float32)
    ls = torch.ones(p.shape[0]) if last_scale is None else torch.as_tensor(last_scale)
    s = Sampler(p, ls, batch, [seed + i for i in range(p.shape[0])])  # a key per instance
    return torch.cat([s.draw().clone() for _ in range(repeats)], 2).numpy()


STREAMS = pytest.mark.parametrize("draw", [
    lambda p, batch, last_scale=None: _cpu_stream(p, batch, list(range(len(p))), last_scale),
    lambda p, batch, last_scale=None: _torch_stream(p, batch, 0, last_scale),
], ids=["cpu", "torch"])


@STREAMS
def test_stream_is_unbiased(draw):
    p = np.array([[0.1, 0.5, 1.0], [0.025, 0.9, 0.3], [0.7, 0.7, 0.7]])
    x = draw(p, 4000)  # not a multiple of the CPU tile: ragged tiles are covered too
    N = x.shape[2]
    active = (x > 0).mean(2)
    # 5 standard errors of a Bernoulli mean
    assert (np.abs(active - p) <= 5 * np.sqrt(p * (1 - p) / N) + 1e-6).all(), active
    vals = x[x > 0]
    assert vals.max() <= 1.0 and vals.min() > 0.0
    # uniform on (0, 1]: mean 1/2, variance 1/12, and deciles within noise
    se = (1 / 12 / len(vals)) ** 0.5
    assert abs(vals.mean() - 0.5) < 5 * se
    assert abs(vals.var() - 1 / 12) < 0.002
    deciles = np.quantile(vals, np.linspace(0.1, 0.9, 9))
    assert np.abs(deciles - np.linspace(0.1, 0.9, 9)).max() < 0.005
    # features independent: P(both active) = p_i p_j
    both = ((x[1, 0] > 0) & (x[1, 2] > 0)).mean()
    assert abs(float(both) - 0.025 * 0.3) < 5 * (0.0075 / N) ** 0.5


@STREAMS
def test_last_scale_scales_only_the_last_feature(draw):
    p = np.full((4, 5), 0.4)
    a = draw(p, 256)
    scaled = draw(p, 256, last_scale=np.array([1.0, 2.0, 1.0, 0.5], np.float32))
    np.testing.assert_allclose(scaled[:, :-1], a[:, :-1])
    np.testing.assert_allclose(scaled[:, -1], a[:, -1] * np.array([1.0, 2, 1, 0.5])[:, None])


def test_cpu_streams_depend_on_their_key_only():
    p = np.full((3, 5), 0.4)
    a = _cpu_stream(p, 100, [7, 8, 9], repeats=2)
    b = _cpu_stream(p[1:], 100, [8, 9], repeats=2)
    c = _cpu_stream(p, 100, [7, 8, 10], repeats=2)
    assert np.array_equal(a[1:], b)  # what else is drawn alongside does not matter
    # nor the kernel's tile width (it depends on the model's shape, the data must not)
    assert np.array_equal(a, _cpu_stream(p, 100, [7, 8, 9], repeats=2, width=4 * LANES))
    assert not np.array_equal(a[2], c[2]) and np.array_equal(a[:2], c[:2])
    lanes = a[0, 0].reshape(-1)
    assert len(np.unique(lanes[lanes > 0])) == (lanes > 0).sum()  # no lane repeats another
