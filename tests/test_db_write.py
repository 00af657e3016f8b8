"""Bulk writes of finished runs: round trip through the public views, atomicity, speed."""

import datetime as dt
import math
import time

import numpy as np
import pytest

from moelab.db import StoreError, open_store
from moelab.db.sample import synthetic_chunk


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as s:
        yield s


def counts(store):
    sql = "SELECT " + ", ".join(
        f"(SELECT count(*) FROM {v})" for v in ("runs", "experts", "features", "metrics", "weights")
    )
    return store.query(sql)[1][0]


def test_round_trip_through_views(store):
    exp = store.create_experiment("sweep", "phase", "{}")
    chunk = synthetic_chunk(4, n_features=3, n_experts=2, d_hidden=2)
    chunk["runs"]["final_loss"][2] = np.nan
    chunk["features"]["norm"][0] = np.nan
    chunk["runs"]["started_at"] = np.array([0.0, 1.5, np.nan, 86400.0])
    ids = store.write_runs(exp, [chunk])
    assert ids == [1, 2, 3, 4]

    names, rows = store.query(
        "SELECT run_id, experiment_id, kind, final_loss, started_at, lens_top1_cosine, seed "
        "FROM runs ORDER BY run_id"
    )
    assert names[:2] == ["run_id", "experiment_id"]
    assert [r[1] for r in rows] == [exp] * 4
    assert rows[2][3] is None  # NaN -> NULL
    assert math.isclose(rows[0][3], chunk["runs"]["final_loss"][0])
    assert [r[4] for r in rows] == [
        dt.datetime(1970, 1, 1), dt.datetime(1970, 1, 1, 0, 0, 1, 500000), None,
        dt.datetime(1970, 1, 2),
    ]
    assert all(r[5] is None for r in rows)

    run_cols = store.query("SELECT * FROM runs LIMIT 0")[0]
    # later migrations append columns; the first ones keep their places
    assert "local_index" not in run_cols and run_cols.index("config") == 30

    _, norm = store.query(
        "SELECT norm FROM features WHERE run_id = 1 AND expert = 0 AND feature = 0"
    )
    assert norm == [(None,)]

    # W is FLOAT[] in row-major (d_hidden, n_features) order; local_index 3 -> run_id 4.
    w_rows = np.flatnonzero((chunk["weights"]["local_index"] == 3)
                            & (chunk["weights"]["expert"] == 1))
    expected = chunk["weights"]["W"][w_rows[0]]
    _, got = store.query("SELECT W, b, router FROM weights WHERE run_id = 4 AND expert = 1")
    np.testing.assert_array_equal(np.array(got[0][0], dtype=np.float32), expected)
    assert len(got[0][1]) == 3 and len(got[0][2]) == 3
    assert store.query("SELECT typeof(W) FROM weights LIMIT 1")[1] == [("FLOAT[]",)]

    assert counts(store) == (4, 8, 24, 20, 8)


def test_run_ids_follow_local_index_across_chunks(store):
    exp = store.create_experiment("sweep", None, "{}")
    first = synthetic_chunk(3)
    # Rows may arrive in any order; ids are assigned by local_index, not by row position.
    first["runs"] = {k: v[::-1] for k, v in first["runs"].items()}
    ids = store.write_runs(exp, [first, synthetic_chunk(2, seed=1)])
    assert ids == [1, 2, 3, 4, 5]
    assert store.write_runs(exp, [synthetic_chunk(1)]) == [6]
    seeds = store.query("SELECT seed FROM runs WHERE run_id <= 3 ORDER BY run_id")[1]
    assert seeds == [(0,), (1,), (2,)]


def test_unknown_column_is_refused_and_nothing_is_written(store):
    exp = store.create_experiment("sweep", None, "{}")
    bad = synthetic_chunk(2, seed=1)
    bad["features"]["colour"] = np.zeros(len(bad["features"]["local_index"]))
    with pytest.raises(StoreError, match="unknown column.*colour"):
        store.write_runs(exp, [synthetic_chunk(2), bad])
    assert counts(store) == (0, 0, 0, 0, 0)


def test_failure_inside_the_transaction_leaves_no_partial_run(store):
    exp = store.create_experiment("sweep", None, "{}")
    store.write_runs(exp, [synthetic_chunk(2)])
    before = counts(store)
    bad = synthetic_chunk(3)
    # Passes validation, but overflows INTEGER in the database after runs were inserted.
    bad["features"]["expert"] = bad["features"]["expert"] + 2**40
    with pytest.raises(StoreError, match="storing runs failed"):
        store.write_runs(exp, [bad])
    assert counts(store) == before
    assert store.write_runs(exp, [synthetic_chunk(1)]) == [3]


def test_bad_chunks_give_clear_errors(store):
    exp = store.create_experiment("sweep", None, "{}")
    chunk = synthetic_chunk(2)
    with pytest.raises(StoreError, match="no experiment with id 42"):
        store.write_runs(42, [chunk])
    gap = synthetic_chunk(2)
    gap["runs"]["local_index"] = np.array([0, 2])
    with pytest.raises(StoreError, match="local_index must be 0..1"):
        store.write_runs(exp, [gap])
    with pytest.raises(StoreError, match="unknown chunk table"):
        store.write_runs(exp, [{**chunk, "gradients": {"local_index": [0]}}])
    ragged = synthetic_chunk(2)
    ragged["metrics"]["value"] = ragged["metrics"]["value"][:-1]
    with pytest.raises(StoreError, match="different lengths"):
        store.write_runs(exp, [ragged])
    assert counts(store) == (0, 0, 0, 0, 0)


def test_full_sweep_is_stored_fast(store):
    # 2,262 sweep points x 10 seeds, n_features = n_experts = 3.
    n_runs = 22_620
    chunk = synthetic_chunk(n_runs, n_features=3, n_experts=3, d_hidden=2, n_metrics=5)
    exp = store.create_experiment("phase", "phase", "{}")
    start = time.perf_counter()
    ids = store.write_runs(exp, [chunk])
    elapsed = time.perf_counter() - start
    print(f"\nstored {n_runs} runs ({counts(store)}) in {elapsed:.3f} s")
    assert ids == list(range(1, n_runs + 1))
    assert counts(store) == (n_runs, 3 * n_runs, 9 * n_runs, 5 * n_runs, 3 * n_runs)
    assert elapsed < 3.0
