"""Training dynamics (issue 14): snapshots at the asked steps, the last one the final
weights, the paper's metrics per snapshot, specialisation steps, and the views they land in."""

from __future__ import annotations

import numpy as np
import pytest

from moelab.db import open_store
from moelab.engine.config import ConfigError, from_dict
from moelab.engine.dynamics import feature_metrics, specialization_steps
from moelab.engine.families import toy
from moelab.engine.plan import plan
from moelab.engine.snapshots import snapshot_steps
from moelab.engine.sweep import expand
from moelab.engine.train import train_batch
from moelab.engine.unit import UnitResult, run_unit


def _cfg(snapshots: int = 5, steps: int = 40, **train):
    return from_dict({"model": {"kind": "moe", "n_features": 4, "d_hidden": 2, "n_experts": 2},
                      "data": {"sparsity": 0.7},
                      "train": {"steps": steps, "batch_size": 64, "eval_samples": 256,
                                "log_every": 10, "snapshots": snapshots, **train},
                      "sweep": {"data.sparsity": [0.5, 0.9]}})


@pytest.mark.parametrize("steps,n", [(10_000, 20), (5000, 8), (10, 11), (3, 2), (7, 5)])
def test_snapshot_steps_hold_both_ends_and_are_distinct(steps, n):
    for spacing in ("log", "linear"):
        s = snapshot_steps(steps, n, spacing)
        assert len(s) == n and s[0] == 0 and s[-1] == steps
        assert np.all(np.diff(s) > 0)
    log = snapshot_steps(10_000, 20)
    assert log[5] < 100  # log-spaced: most snapshots early, where most change happens


def test_snapshots_larger_than_steps_is_one_line():
    with pytest.raises(ConfigError) as err:
        _cfg(snapshots=42, steps=40)
    assert str(err.value).count("\n") == 0 and "train.snapshots = 42" in str(err.value)
    with pytest.raises(ConfigError, match="snapshots = 1"):
        _cfg(snapshots=1)


def test_snapshots_at_the_asked_steps_the_last_equal_to_the_final_weights():
    runs = expand(_cfg())
    res = train_batch(runs, "cpu")
    snap = res.snapshots
    assert list(snap.steps) == list(snapshot_steps(40, 5)) == [0, 3, 6, 16, 40]
    assert snap.W.shape == (2, 5, 2, 2, 4)
    assert np.array_equal(snap.W[:, -1], res.W) and np.array_equal(snap.b[:, -1], res.b)
    assert np.array_equal(snap.router[:, -1], res.router)
    from moelab.engine.inits import init_run  # what the trainer starts from
    W0, _, router0 = init_run(runs[0])
    assert np.allclose(snap.W[0, 0], W0) and np.allclose(snap.router[0, 0], router0)
    # reading the trainer does not disturb it: the same final weights without snapshots
    plain = train_batch(expand(_cfg(snapshots=0)), "cpu")
    assert plain.snapshots is None and np.array_equal(plain.W, res.W)


def test_specialization_step_on_a_constructed_trajectory():
    steps = np.array([0, 10, 100, 1000, 5000])
    S, E, n = 5, 2, 4
    mono = np.zeros((1, S, E, n), dtype=bool)
    mono[0, 2:, 1, 0] = True  # feature 0: monosemantic in expert 1 from step 100 on
    mono[0, [1, 2, 4], 0, 1] = True  # feature 1: lost at 1000, back at 5000
    mono[0, 1:4, 0, 2] = True  # feature 2: lost at the end: never specialised
    mono[0, 3:, 0, 3] = True  # feature 3: in expert 0 from 1000, in expert 1 from 10
    mono[0, 1:, 1, 3] = True
    step, expert = specialization_steps(mono, steps)
    assert step.tolist() == [[100, 5000, -1, 10]]
    assert expert.tolist() == [[1, 0, -1, 1]]


def test_specialization_from_weights_that_grow_into_orthogonal_directions():
    # W_t = t·I: feature norms 0, 0.25, 0.5, 1 -> monosemantic (norm >= 0.5) from t = 0.5
    scales = np.array([0.0, 0.25, 0.5, 1.0])
    W = scales[None, :, None, None, None] * np.eye(3)[None, None, None]  # (1, 4, 1, 3, 3)
    f = feature_metrics(W)
    assert np.allclose(f["norm"][0, :, 0, 0], scales)
    assert np.allclose(f["superposition"], 0) and f["monosemantic"][0, 2:].all()
    step, expert = specialization_steps(f["monosemantic"], np.array([0, 5, 50, 500]))
    assert step.tolist() == [[50, 50, 50]] and expert.tolist() == [[0, 0, 0]]


def test_a_unit_with_snapshots_lands_in_the_views(tmp_path):
    cfg = _cfg(snapshots=4, steps=30)
    units = plan(cfg, 1, unit_work=1e15)
    result = UnitResult.from_bytes(run_unit(units[0]).to_bytes())
    with open_store(tmp_path / "lab.duckdb") as store:
        eid = store.create_experiment("dyn", None, cfg.to_json())
        store.write_unit(eid, 0, result.tables, result.meta(), dict(units[0].point_sizes))
        q = lambda sql: store.query(sql)[1]  # noqa: E731
        assert q("SELECT count(*) FROM snapshots") == [(2 * 4 * 2,)]
        assert q("SELECT count(*) FROM dynamics") == [(2 * 4 * 2 * 4,)]
        assert q("SELECT count(*) FROM specialization") == [(2 * 4,)]
        # the last snapshot is the stored final weights, bit for bit
        assert q("SELECT count(*) FROM snapshots s JOIN weights w USING (run_id, expert) "
                 "WHERE s.step = 30 AND s.W = w.W AND s.b = w.b AND s.router = w.router"
                 ) == [(4,)]
        # per-expert usage sums to 1 at every snapshot; loss falls from the init
        assert q("SELECT min(u), max(u) FROM (SELECT sum(usage) AS u FROM dynamics "
                 "WHERE feature = 0 GROUP BY run_id, step)")[0] == pytest.approx((1, 1))
        first, last = q("SELECT loss FROM dynamics WHERE run_id = 1 AND expert = 0 AND "
                        "feature = 0 AND step IN (0, 30) ORDER BY step")
        assert last[0] < first[0]
        assert q("SELECT count(*) FROM lens") == [(2,)]


def test_no_snapshots_no_dynamics_tables():
    runs = expand(_cfg(snapshots=0, steps=5))
    tables = toy.train(runs, "cpu")
    assert "snapshots" not in tables and "dynamics_features" not in tables
    assert "lens" in tables  # every MoE run gets MoE Lens


@pytest.mark.parametrize("k,E", [(1, 2), (1, 5), (2, 4)])
def test_usage_per_snapshot_equals_the_stored_routing_statistics(k, E):
    from moelab.engine import metrics as M
    from moelab.engine.dynamics import routing
    rng = np.random.default_rng(E)
    router = rng.normal(size=(3, 4, E, 6))
    x = rng.random((3, 200, 6)) * (rng.random((3, 200, 6)) < 0.4)  # all-zero inputs tie
    usage, frac = routing(router, x, k)
    for s in range(4):
        rs = M.routing_stats(np.zeros((3, E, 2, 6)), np.zeros((3, E, 6)), router[:, s], x, k,
                             np.zeros((3, E, 6), bool))
        assert np.allclose(usage[:, s], rs.usage) and np.allclose(frac[:, s], rs.route_fraction)
