"""The engine's training-data stream (data.Sampler) is distributed as SPEC says: each feature
independently 0 with probability S, else U[0, 1]; deterministic per seed."""

import numpy as np
import torch

from moelab.engine.data import Sampler


def _draw_all(p, batch=4096, seed=0, blocks=None, last_scale=None, repeats=5):
    n_inst = p.shape[0]
    ls = torch.ones(n_inst) if last_scale is None else last_scale
    s = Sampler(p, ls, batch, seed)
    blocks = blocks or [(0, n_inst)]
    out = []
    for _ in range(repeats):
        x = torch.empty(n_inst, p.shape[1], batch)
        for i0, i1 in blocks:
            x[i0:i1] = s.draw(i0, i1)
        out.append(x.clone())
    s.close()
    return torch.cat(out, 2)  # (inst, n, repeats * batch)


def test_sampler_is_unbiased():
    p = torch.tensor([[0.1, 0.5, 1.0], [0.025, 0.9, 0.3], [0.7, 0.7, 0.7]])
    x = _draw_all(p, blocks=[(0, 1), (1, 3)])
    N = x.shape[2]
    active = (x > 0).float().mean(2)
    # 5 standard errors of a Bernoulli mean
    assert (active - p).abs().le(5 * (p * (1 - p) / N).sqrt() + 1e-6).all(), active
    vals = x[x > 0].numpy()
    assert vals.max() <= 1.0 and vals.min() > 0.0
    # uniform on (0, 1]: mean 1/2, variance 1/12, and deciles within noise
    se = (1 / 12 / len(vals)) ** 0.5
    assert abs(vals.mean() - 0.5) < 5 * se
    assert abs(vals.var() - 1 / 12) < 0.002
    deciles = np.quantile(vals, np.linspace(0.1, 0.9, 9))
    assert np.abs(deciles - np.linspace(0.1, 0.9, 9)).max() < 0.005
    # features independent: P(both active) = p_i p_j
    both = ((x[1, 0] > 0) & (x[1, 2] > 0)).float().mean()
    assert abs(float(both) - 0.025 * 0.3) < 5 * (0.0075 / N) ** 0.5


def test_sampler_same_seed_same_data_and_last_scale():
    p = torch.full((4, 5), 0.4)
    a = _draw_all(p, batch=256, seed=3, blocks=[(0, 2), (2, 4)], repeats=2)
    b = _draw_all(p, batch=256, seed=3, blocks=[(0, 2), (2, 4)], repeats=2)
    c = _draw_all(p, batch=256, seed=4, blocks=[(0, 2), (2, 4)], repeats=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    scaled = _draw_all(p, batch=256, seed=3, blocks=[(0, 2), (2, 4)], repeats=2,
                       last_scale=torch.tensor([1.0, 2.0, 1.0, 0.5]))
    torch.testing.assert_close(scaled[:, :-1], a[:, :-1])
    torch.testing.assert_close(scaled[:, -1], a[:, -1] * torch.tensor([1.0, 2, 1, 0.5])[:, None])
