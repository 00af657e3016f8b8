"""The read-only query path refuses anything that could change the file or leave it."""

import os

import pytest

from moelab.db import (
    QueryRefused,
    StoreError,
    check_read_only,
    open_read_only,
    open_store,
    run_read_query,
)
from moelab.db.readonly import statement_body
from moelab.db.sample import synthetic_chunk

REFUSED = [
    "DROP TABLE store.runs",
    "DROP VIEW runs",
    "DELETE FROM store.runs",
    "UPDATE store.runs SET k = 7",
    "INSERT INTO store.metrics VALUES (1, 1, 'x', 1.0)",
    "CREATE TABLE evil (a INTEGER)",
    "CREATE TABLE evil AS SELECT * FROM runs",
    "ATTACH 'other.duckdb' AS other",
    "DETACH other",
    "COPY (SELECT * FROM runs) TO 'leak.csv'",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "SET threads = 1",
    "RESET threads",
    "CALL pragma_version()",
    "USE memory",
    "CHECKPOINT",
    "SELECT 1; DROP TABLE store.runs",
    "SELECT 1; SELECT 2",
    "SELECT * FROM read_csv('x.csv')",
    "SELECT * FROM read_csv_auto('x.csv')",
    "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM parquet_scan('x.parquet')",
    "SELECT * FROM read_json_auto('x.json')",
    "SELECT * FROM read_text('secrets.txt')",
    "SELECT * FROM read_blob('secrets.txt')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM sniff_csv('x.csv')",
    "SELECT * FROM query('DROP TABLE store.runs')",
    "SELECT * FROM query_table('runs')",
    "SELECT * FROM iceberg_scan('s3://bucket/t')",
    "SELECT * FROM delta_scan('t')",
    "SELECT * FROM 'file.csv'",
    "SELECT * FROM \"file.csv\"",
    "FROM 'https://example.com/x.parquet'",
    "SELECT * FROM runs JOIN 'other.parquet' USING (run_id)",
    "SELECT (SELECT count(*) FROM read_csv('x.csv'))",
    "WITH t AS (SELECT * FROM glob('/etc/*')) SELECT * FROM t",
    "SELECT 'x.csv'.read_csv()",
    "SUMMARIZE 'file.csv'",
    "DESCRIBE 'file.csv'",
    "SELECT nextval('seq')",
    "SELECT getenv('HOME')",
    "SELECT write_log('hello')",
    "SELECT * FROM duckdb_secrets()",
    "EXPLAIN SELECT 1",
    "",
]

ALLOWED = [
    "SELECT count(*) FROM runs",
    "WITH r AS (SELECT run_id, fpd FROM runs) SELECT * FROM r ORDER BY run_id",
    "FROM runs SELECT kind, avg(fpd) GROUP BY kind",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT r.run_id, list_sum(w.W) FROM runs r JOIN weights w USING (run_id)",
    "SELECT * FROM main.features WHERE superposition > 0.5",
    "SELECT * FROM range(3)",
    "SELECT * FROM information_schema.columns WHERE table_name = 'runs'",
    "DESCRIBE runs",
    "SHOW TABLES",
    "SELECT 1; -- trailing comment",
    "PIVOT runs ON kind USING count(*)",  # read-only: its temporary type is rolled back
]


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory):
    # One store for the many guard cases: each case checks the store is unchanged anyway.
    folder = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as mp, open_store(folder / "lab.duckdb") as store:
        mp.chdir(folder)  # relative paths in the refused queries would land here
        exp = store.create_experiment("sweep", None, "{}")
        store.write_runs(exp, [synthetic_chunk(5)])
        (folder / "file.csv").write_text("a,b\n1,2\n")
        yield store, folder


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store(tmp_path / "lab.duckdb") as store:
        exp = store.create_experiment("sweep", None, "{}")
        store.write_runs(exp, [synthetic_chunk(5)])
        yield store, tmp_path


def snapshot(store, folder):
    tables = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "ORDER BY all"
    )[1]
    rows = {t: store.query(f"SELECT count(*) FROM store.{t}")[1][0][0]
            for (t,) in tables if t != "schema_migrations"}
    views = store.query("SELECT count(*) FROM duckdb_views() WHERE NOT internal")[1]
    return rows, views, sorted(os.listdir(folder))


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_and_file_unchanged(shared_lab, sql):
    store, folder = shared_lab
    before = snapshot(store, folder)
    with pytest.raises(QueryRefused) as info:
        run_read_query(store, sql)
    message = str(info.value)
    assert message and "\n" not in message
    assert snapshot(store, folder) == before


@pytest.mark.parametrize("sql", ALLOWED)
def test_allowed(shared_lab, sql):
    store, _ = shared_lab
    check_read_only(sql)
    names, rows = run_read_query(store, sql)
    assert names and isinstance(rows, list)


def test_results_and_limit(lab):
    store, _ = lab
    names, rows = run_read_query(
        store, "WITH r AS (SELECT run_id FROM runs) SELECT run_id AS id FROM r ORDER BY id"
    )
    assert names == ["id"] and rows == [(1,), (2,), (3,), (4,), (5,)]
    assert run_read_query(store, "SELECT run_id FROM runs ORDER BY 1", limit=2)[1] == [(1,), (2,)]


def test_syntax_and_runtime_errors_are_store_errors(lab):
    store, _ = lab
    with pytest.raises(StoreError, match="does not parse"):
        run_read_query(store, "SELEC 1")
    with pytest.raises(StoreError, match="nowhere"):
        run_read_query(store, "SELECT * FROM nowhere")


def test_read_only_open_without_service(lab):
    store, folder = lab
    store.close()
    with open_read_only(folder / "lab.duckdb") as ro:
        assert run_read_query(ro, "SELECT count(*) FROM runs")[1] == [(5,)]
        with pytest.raises(QueryRefused):
            run_read_query(ro, "DELETE FROM store.runs")


def test_statement_body_strips_trailing_noise():
    assert statement_body("SELECT ';' ; -- done\n ;") == "SELECT ';'"
    assert statement_body("SELECT 1 /* keep */ + 1 -- drop") == "SELECT 1 /* keep */ + 1"
