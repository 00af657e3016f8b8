"""Table 1's usage columns under the authors' definition (dense inputs), routing statistics
under random ties, and the initial k-hot blocks: known answers (issue 12)."""

import numpy as np
import pytest

from moelab.engine import metrics as M
from moelab.engine.config import from_dict
from moelab.engine.inits import init_run
from moelab.engine.summary import summarize
from moelab.engine.sweep import expand


def test_dense_usage_has_the_authors_definitions():
    # expert 0 looks at x0, expert 1 at x1 + x2; expert 0's monosemantic feature is 0
    R = np.array([[[1.0, 0, 0], [0, 1, 1]]])
    mono = np.array([[[True, False, False], [False, False, False]]])
    x = np.random.default_rng(0).random((200_000, 3))
    du = M.dense_usage(R, 1, mono, x)
    # P(x0 > x1 + x2) = 1/6 for uniforms; with x0 clamped to 1: P(x1 + x2 < 1) = 1/2
    assert du.usage[0] == pytest.approx([1 / 6, 5 / 6], abs=0.005)
    assert du.when_mono_active[0, 0] == pytest.approx(0.5, abs=0.005)
    assert du.when_only_mono[0, 0] == 1.0  # e_0 alone routes to expert 0
    assert np.isnan(du.when_mono_active[0, 1]) and np.isnan(du.when_only_mono[0, 1])


def test_top_k_weights_share_ties_only_when_random():
    scores = np.array([[[0.5, 0.5, 0.5], [0.7, 0.2, 0.1]]])  # a full tie, then none
    lowest = M.top_k_weights(scores, 1)
    assert lowest[0].tolist() == [[1, 0, 0], [1, 0, 0]]
    shared = M.top_k_weights(scores, 1, np.array([True]))
    assert shared[0, 0] == pytest.approx([1 / 3] * 3) and shared[0, 1].tolist() == [1, 0, 0]
    assert M.top_k_weights(scores, 2, np.array([True]))[0, 0] == pytest.approx([2 / 3] * 3)


def _runs(tie_break: str, router_init: str = "zeros"):
    return expand(from_dict({"model": {"kind": "moe", "n_features": 4, "d_hidden": 2,
                                       "n_experts": 2, "router_init": router_init,
                                       "tie_break": tie_break}}))


@pytest.mark.parametrize("tie_break, usage", [("lowest", [1.0, 0.0]), ("random", [0.5, 0.5])])
def test_summary_routing_follows_the_runs_tie_break(tie_break, usage):
    runs = _runs(tie_break)
    W, b, R = (a[None].astype(np.float64) for a in init_run(runs[0]))  # zero router: all tie
    s = summarize(W, b, R, 1, np.full((1, 4), 0.1), np.ones(1), np.ones((1, 4)), runs=runs)
    assert s["experts"]["usage"] == pytest.approx(usage)
    assert s["features"]["occupied_init"] == [True] * 4 + [False] * 4  # ties: lowest
    no_runs = summarize(W, b, R, 1, np.full((1, 4), 0.1), np.ones(1), np.ones((1, 4)))
    assert no_runs["experts"]["usage"] == pytest.approx([1.0, 0.0])
    assert no_runs["features"]["occupied_init"] == [None] * 8


def test_occupied_init_is_the_random_khot_block():
    runs = _runs("lowest", "random_khot")
    W, b, R = (a[None].astype(np.float64) for a in init_run(runs[0]))
    s = summarize(W, b, np.zeros_like(R), 1, np.full((1, 4), 0.1), np.ones(1),
                  np.ones((1, 4)), runs=runs)
    assert s["features"]["occupied_init"] == (R[0] > 0).ravel().tolist()
