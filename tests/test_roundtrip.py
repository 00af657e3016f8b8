"""Store round trip: metrics recomputed from the stored weights equal the stored metrics."""

import json

import numpy as np
import pytest
from runner_support import run_in_memory

from moelab.db import open_read_only, open_store
from moelab.engine.config import DataConfig
from moelab.engine.data import density, importance
from moelab.engine.presets import build_config
from moelab.engine.summary import summarize


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "rt.duckdb"
    cfg = build_config("fig1-2", quick=True, sets=["train.steps=60", "train.eval_samples=500"])
    result = run_in_memory(cfg, "cpu")
    with open_store(path) as store:
        exp = store.create_experiment(cfg.name, "fig1-2", cfg.to_json())
        ids = store.write_runs(exp, result.chunks)
    return path, result, ids


def test_every_run_is_stored_with_its_data(stored):
    path, result, ids = stored
    assert len(ids) == len(result.runs) == 6
    with open_read_only(path) as store:
        _, rows = store.query("SELECT count(*), count(DISTINCT run_id) FROM runs")
        assert rows[0] == (6, 6)
        _, rows = store.query("SELECT sum(n_experts) FROM runs")
        _, w = store.query("SELECT count(*) FROM weights")
        assert w[0][0] == rows[0][0]


def test_metrics_recomputed_from_stored_weights_match(stored):
    path, _, ids = stored
    with open_read_only(path) as store:
        for run_id in ids:
            _, (run,) = store.query("SELECT config, n_experts, d_hidden, n_features, k, fpd, "
                                    "capacity FROM runs WHERE run_id = ?", [run_id])
            config, E, m, n, k, fpd, cap = run
            _, w = store.query("SELECT W, b, router FROM weights WHERE run_id = ? "
                               "ORDER BY expert", [run_id])
            W = np.array([r[0] for r in w]).reshape(1, E, m, n)
            b = np.array([r[1] for r in w]).reshape(1, E, n)
            router = np.array([r[2] for r in w]).reshape(1, E, n)
            c = json.loads(config)
            data = DataConfig(**{k_: (tuple(v) if isinstance(v, list) else v)
                                 for k_, v in c["data"].items()})
            s = summarize(W, b, router, k, density(data, n)[None],
                          np.array([data.last_scale]),
                          importance(data, n, c["train"]["seed"])[None])
            assert s["runs"]["fpd"][0] == pytest.approx(fpd, rel=1e-5)
            assert s["runs"]["capacity"][0] == pytest.approx(cap, rel=1e-5)
            cols = ("norm", "superposition", "dimensionality", "specialization",
                    "importance", "monosemantic", "occupied")
            _, f = store.query(f"SELECT {', '.join(cols)} FROM features WHERE run_id = ? "
                               "ORDER BY expert, feature", [run_id])
            for j, col in enumerate(cols):
                stored_col = np.array([r[j] for r in f], dtype=float)
                assert stored_col == pytest.approx(s["features"][col].astype(float),
                                                   rel=1e-4, abs=1e-6), col
            _, e = store.query("SELECT usage, n_monosemantic FROM experts WHERE run_id = ? "
                               "ORDER BY expert", [run_id])
            assert [r[0] for r in e] == pytest.approx(s["experts"]["usage"], rel=1e-5)
            assert [r[1] for r in e] == s["experts"]["n_monosemantic"].tolist()


def test_usage_sums_to_one_and_logged_metrics_exist(stored):
    path, _, _ = stored
    with open_read_only(path) as store:
        _, rows = store.query("SELECT run_id, sum(usage) FROM experts GROUP BY run_id")
        assert all(abs(r[1] - 1) < 1e-6 for r in rows)
        _, names = store.query("SELECT DISTINCT name FROM metrics ORDER BY name")
        assert [r[0] for r in names] == ["lb_loss", "loss", "rec_loss", "router_grad_norm"]
