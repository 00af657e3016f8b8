"""Opening, migrating and the experiment table of the moelab store."""

import subprocess
import sys

import duckdb
import pytest

from moelab.db import StoreError, open_read_only, open_store, resolve_db_path
from moelab.db.connection import apply_migrations
from moelab.db.migrations import LATEST, MIGRATIONS, PUBLIC_VIEWS


def versions(store):
    return [row[0] for row in store.query("SELECT version FROM schema_migrations ORDER BY 1")[1]]


def test_new_file_gets_every_migration_and_the_views(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as store:
        assert versions(store) == [n for n, _ in MIGRATIONS]
        names = {r[0] for r in store.query("SELECT view_name FROM duckdb_views()")[1]}
        assert set(PUBLIC_VIEWS) <= names


def test_reopen_is_idempotent(tmp_path):
    path = tmp_path / "lab.duckdb"
    with open_store(path) as store:
        store.create_experiment("a", None, "{}")
    with open_store(path) as store:
        assert versions(store) == [n for n, _ in MIGRATIONS]
        assert len(store.experiments()) == 1
    with open_read_only(path) as store:
        assert store.read_only and len(store.experiments()) == 1


def test_older_file_is_migrated_on_writable_open(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert apply_migrations(con, upto=1) == [1]
    con.close()
    with pytest.raises(StoreError, match="older schema.*writable"):
        open_read_only(path)
    with open_store(path) as store:
        assert versions(store) == list(range(1, LATEST + 1))
        assert store.query("SELECT count(*) FROM runs")[1] == [(0,)]


def test_newer_file_is_readable_but_not_writable(tmp_path):
    path = tmp_path / "new.duckdb"
    with open_store(path) as store:
        store.query("INSERT INTO schema_migrations VALUES (999, now()::TIMESTAMP)")
    with pytest.raises(StoreError, match="newer moelab"):
        open_store(path)
    with open_read_only(path) as store:
        assert store.experiments() == []


def test_not_a_duckdb_file(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("just some text, not a database\n" * 50)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="is not a DuckDB database"):
            open_store(path, read_only=read_only)


def test_foreign_duckdb_file_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a moelab one"):
        open_store(path)


def test_missing_directory_and_missing_file(tmp_path):
    with pytest.raises(StoreError, match="database directory .*nope does not exist"):
        open_store(tmp_path / "nope" / "lab.duckdb")
    with pytest.raises(StoreError, match="no database at .*run `moelab run"):
        open_read_only(tmp_path / "absent.duckdb")
    assert not (tmp_path / "absent.duckdb").exists()


def test_locked_file_names_the_holder(tmp_path):
    path = tmp_path / "lab.duckdb"
    open_store(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreError, match=rf"locked by another process \(pid {holder.pid}"):
            open_store(path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_errors_are_one_line(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as store:
        with pytest.raises(StoreError) as info:
            store.query("SELECT * FROM no_such_table")
        assert "\n" not in str(info.value)
        assert "no_such_table" in str(info.value)


def test_resolve_db_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOELAB_DB", raising=False)
    assert resolve_db_path(None) == tmp_path / "moelab.duckdb"
    monkeypatch.setenv("MOELAB_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path(None) == tmp_path / "env.duckdb"
    assert resolve_db_path("arg.duckdb") == tmp_path / "arg.duckdb"
    with pytest.raises(StoreError, match="create it or pass another --db"):
        resolve_db_path(str(tmp_path / "x" / "y" / "lab.duckdb"))


def test_experiment_lifecycle(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as store:
        first = store.create_experiment("sweep", "phase", '{"a": 1}', quick=True)
        second = store.create_experiment("solo", None, "{}")
        assert (first, second) == (1, 2)
        exp = store.experiment(first)
        assert exp["status"] == "queued" and exp["quick"] is True and exp["preset"] == "phase"
        assert exp["created_at"] is not None and exp["started_at"] is None

        store.set_experiment_status(first, "running", device="cuda:0", progress=0.25)
        exp = store.experiment(first)
        assert exp["started_at"] is not None and exp["finished_at"] is None
        assert (exp["device"], exp["progress"]) == ("cuda:0", 0.25)

        store.set_experiment_status(first, "failed", message="CUDA out of memory")
        exp = store.experiment(first)
        assert exp["finished_at"] is not None and exp["message"] == "CUDA out of memory"
        assert exp["device"] == "cuda:0"

        store.set_experiment_status(second, "done")
        assert store.experiment(second)["progress"] == 1.0
        assert [e["experiment_id"] for e in store.experiments()] == [1, 2]
        assert store.experiment(99) is None

        with pytest.raises(StoreError, match="unknown experiment status"):
            store.set_experiment_status(first, "exploded")
        with pytest.raises(StoreError, match="no experiment with id 99"):
            store.set_experiment_status(99, "done")


def test_read_only_store_refuses_writes(tmp_path):
    path = tmp_path / "lab.duckdb"
    open_store(path).close()
    with open_read_only(path) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.create_experiment("x", None, "{}")
