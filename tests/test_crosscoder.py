"""Crosscoders (issue 15), the engine: on activations built from known directions a BatchTopK
crosscoder finds them, its designated shared latents stay tied, BatchTopK keeps exactly k·B
latents, variance explained matches a hand-checked case, configs refuse bad values at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moelab.engine.config import ConfigError
from moelab.engine.crosscoder import Crosscoder, annealed_k, batch_topk, fve, train_crosscoders
from moelab.engine.crosscoder_config import CrosscoderSettings, CrosscoderTrain, from_dict
from moelab.engine.crosscoder_metrics import cosines, relative_norm
from moelab.engine.crosscoder_sources import feature_directions, gated_hidden

N_SHARED, N_DENSE, N_MOE, WIDTH = 4, 3, 3, 8  # true features in both spaces / one only


class KnownDirections:
    """Two activation spaces made of known features: x_i ~ U[0,1] with density 0.1, a = x·DA,
    b = x·DB; rows of DA (DB) are zero for the features only the other space has. With
    common_basis the shared features point the same way in both spaces (what tied decoders
    assume), else every space has its own random orthonormal directions (two separately
    trained models: the toy dense and MoE)."""

    def __init__(self, seed: int = 0, common_basis: bool = False):
        rng = np.random.default_rng(seed)
        n = N_SHARED + N_DENSE + N_MOE
        self.DA, self.DB = np.zeros((n, WIDTH)), np.zeros((n, WIDTH))
        self.DA[:N_SHARED + N_DENSE] = _unit(rng, N_SHARED + N_DENSE)
        self.DB[np.r_[:N_SHARED, N_SHARED + N_DENSE:n]] = _unit(rng, N_SHARED + N_MOE)
        if common_basis:
            self.DB[:N_SHARED] = self.DA[:N_SHARED]
        self.widths = (WIDTH, WIDTH)

    def draw(self, batch, gens, eval=False):  # eval: the same distribution
        n = self.DA.shape[0]
        u = torch.stack([torch.rand(batch, n, generator=g) for g in gens])
        x = torch.where(u < 0.1, u / 0.1, torch.zeros(()))
        return x @ torch.tensor(self.DA, dtype=torch.float32), \
            x @ torch.tensor(self.DB, dtype=torch.float32)


def _unit(rng, k):
    """k orthonormal random directions: one space's features do not overlap."""
    return np.linalg.qr(rng.normal(size=(WIDTH, k)))[0].T


def _train(common_basis: bool, n_shared: int):
    src = KnownDirections(common_basis=common_basis)
    cc = CrosscoderSettings(n_latents=16, k=1, n_shared=n_shared)  # k: one feature a sample
    tr = CrosscoderTrain(steps=600, batch_size=512, lr=1e-2, eval_samples=4000)
    return src, cc, train_crosscoders(src, cc, tr, [11, 12], "cpu")


def _check_recovery(src, res) -> None:
    """Each true direction has a live latent whose decoder in that space points along it
    (cosine > 0.9, the lab's recovery measure), and the relative norms side right."""
    in_a = np.arange(N_SHARED + N_DENSE)
    in_b = np.r_[np.arange(N_SHARED), np.arange(N_SHARED + N_DENSE, N_SHARED + N_DENSE + N_MOE)]
    for i in range(2):
        alive = res.density[i] > 0
        r = relative_norm(np.linalg.norm(res.dec_a[i], axis=1),
                          np.linalg.norm(res.dec_b[i], axis=1))
        for dirs, dec, idx in ((src.DA, res.dec_a[i], in_a), (src.DB, res.dec_b[i], in_b)):
            cos = np.where(alive, cosines(dirs[idx], dec), -1)
            assert cos.max(1).min() > 0.9, cos.max(1)
        joint = np.where(alive, cosines(np.concatenate([src.DA, src.DB], 1),
                                        np.concatenate([res.dec_a[i], res.dec_b[i]], 1)), -1)
        best_r = r[joint.argmax(1)]
        assert np.all(best_r[N_SHARED:N_SHARED + N_DENSE] > 0.5)  # dense-only lean dense
        assert np.all(best_r[N_SHARED + N_DENSE:] < 0.5)
        assert np.all(res.fve[i] > 0.9)


def test_recovers_known_directions_of_two_unrelated_spaces():
    src, _, res = _train(common_basis=False, n_shared=0)
    _check_recovery(src, res)


def test_recovers_known_directions_with_tied_shared_latents_that_stay_tied():
    src, cc, res = _train(common_basis=True, n_shared=2)
    _check_recovery(src, res)
    S = cc.n_shared
    assert np.array_equal(res.dec_a[:, :S], res.dec_b[:, :S])
    assert not np.allclose(res.dec_a[:, S:], res.dec_b[:, S:])


def test_batch_topk_keeps_exactly_k_times_batch_latents():
    g = torch.Generator().manual_seed(0)
    score = torch.rand(3, 64, 32, generator=g)
    for k in (1, 2, 5):
        keep = batch_topk(score, k)
        assert keep.sum((1, 2)).tolist() == [k * 64] * 3
        # the kept ones are the largest: every kept score beats every dropped one
        flat, kept = score.reshape(3, -1), keep.reshape(3, -1).bool()
        for i in range(3):
            assert flat[i][kept[i]].min() > flat[i][~kept[i]].max()
    # inside the model: k·B latents active over the batch, a different number per sample
    model = Crosscoder(2, (4, 4), 16, 2, [1, 2], "cpu")
    x = torch.rand(2, 100, 8, generator=g)
    with torch.no_grad():
        model.b_enc.fill_(1.0)  # every pre-activation positive: no zeros to tie
        f = model.encode(x, 3).f
    assert (f > 0).sum((1, 2)).tolist() == [300, 300]
    assert len(set((f[0] > 0).sum(1).tolist())) > 1


def test_variance_explained_hand_checked():
    x = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]])  # mean 0, Σ‖x‖² = 10
    assert fve(x, 0.5 * x).item() == pytest.approx(0.75)  # error Σ = 2.5
    assert fve(x, x).item() == pytest.approx(1.0)
    y = torch.tensor([[[1.0], [3.0]]])  # mean 2, variance sum 2; predicting the mean: 0
    assert fve(y, torch.full_like(y, 2.0)).item() == pytest.approx(0.0)
    assert fve(y, torch.zeros_like(y)).item() == pytest.approx(1 - 10 / 2)


def test_k_anneals_from_k_start_to_k():
    cc = CrosscoderSettings(n_latents=64, k=2, k_start=10, anneal_frac=0.5)
    ks = [annealed_k(s, 100, cc) for s in range(1, 101)]
    assert ks[0] == 10 and ks[-1] == 2 and ks[49:] == [2] * 51
    assert all(a >= b for a, b in zip(ks, ks[1:], strict=False))
    assert CrosscoderSettings(n_latents=5, k=2).k_first == 5  # min(4k, n_latents)


def test_moe_space_gates_each_expert_as_the_forward_pass():
    W = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (inst 1, E 2, m 1, n 2)
    router = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    top1 = gated_hidden(x, W, router, 1, "renorm")[0]
    assert top1.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # k = 1 renorm: gate 1, others 0
    both = gated_hidden(x, W, router, 2, "renorm")[0]
    g = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    assert both[0].tolist() == pytest.approx([g[0].item(), 0.0])
    switch = gated_hidden(x, W, router, 1, "switch")[0]
    assert switch[0, 0].item() == pytest.approx(g[0].item())
    dirs = feature_directions(W[0].numpy(), router[0].numpy(), 1, "renorm")
    assert dirs.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as e:
        from_dict({"family": "crosscoder", "source": {"dense_run": 1},
                   "crosscoder": {"n_latents": 0, "k": 0, "shared_penalty": 2},
                   "train": {"lr": -1}})
    text = str(e.value)
    for part in ("dense_run and moe_run", "n_latents must be at least 1", "crosscoder.k must",
                 "shared_penalty", "train.lr"):
        assert part in text
    with pytest.raises(ConfigError, match="k = 9 is more than crosscoder.n_latents = 8"):
        from_dict({"source": {"experiment": 1}, "crosscoder": {"n_latents": 8, "k": 9}})
    with pytest.raises(ConfigError, match="unknown field crosscoder.latents"):
        from_dict({"source": {"experiment": 1}, "crosscoder": {"latents": 8}})
    cfg = from_dict({"source": {"experiment": 3}})
    assert from_dict(__import__("json").loads(cfg.to_json())) == cfg
