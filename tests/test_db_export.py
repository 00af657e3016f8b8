"""Exporting views and guarded queries to Parquet and CSV."""

import duckdb
import pytest

from moelab.db import (
    PUBLIC_VIEWS,
    QueryRefused,
    StoreError,
    export_data,
    open_read_only,
    open_store,
)
from moelab.db.sample import synthetic_chunk


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as s:
        exp = s.create_experiment("sweep", None, "{}")
        s.write_runs(exp, [synthetic_chunk(4, n_features=3, n_experts=2)])
        yield s


def read_back(path):
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM '{path}'").fetchall()


def test_export_every_view_to_parquet(store, tmp_path):
    expected = {"experiments": 1, "runs": 4, "experts": 8, "features": 24, "metrics": 20,
                "weights": 8, "units": 0}  # write_runs stores no unit
    assert set(expected) <= set(PUBLIC_VIEWS)
    for view in PUBLIC_VIEWS:  # the views later migrations add export too
        out = tmp_path / f"{view}.parquet"
        n = export_data(store, view, out)
        assert n == expected.get(view, n) and len(read_back(out)) == n


def test_export_query_to_csv(store, tmp_path):
    out = tmp_path / "loss.csv"
    sql = "SELECT run_id, final_loss FROM runs WHERE run_id <= 2 ORDER BY run_id; -- two runs"
    assert export_data(store, sql, out) == 2
    assert out.read_text().splitlines()[0] == "run_id,final_loss"
    assert [r[0] for r in read_back(out)] == [1, 2]


def test_weights_keep_their_lists_in_parquet(store, tmp_path):
    out = tmp_path / "w.parquet"
    export_data(store, "weights", out)
    with duckdb.connect() as con:
        kind = con.execute(f"SELECT typeof(W) FROM '{out}' LIMIT 1").fetchall()[0][0]
    assert kind == "FLOAT[]"


def test_export_from_read_only_store(store, tmp_path):
    store.close()
    with open_read_only(tmp_path / "lab.duckdb") as ro:
        assert export_data(ro, "runs", tmp_path / "runs.csv") == 4


def test_export_errors(store, tmp_path):
    with pytest.raises(StoreError, match="unsupported export format '.xlsx'.*parquet or .csv"):
        export_data(store, "runs", tmp_path / "runs.xlsx")
    with pytest.raises(StoreError, match="output directory .* does not exist"):
        export_data(store, "runs", tmp_path / "missing" / "runs.csv")
    with pytest.raises(QueryRefused):
        export_data(store, "SELECT * FROM read_csv('x.csv')", tmp_path / "x.parquet")
    with pytest.raises(QueryRefused):
        export_data(store, "DROP TABLE store.runs", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
    assert store.query("SELECT count(*) FROM runs")[1] == [(4,)]
