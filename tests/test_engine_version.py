"""Every trained run records the engine version that trained it (runs.engine_version);
runs stored without one (before the column, imported) read NULL."""

from __future__ import annotations

from moelab.cli import main
from moelab.db import open_store
from moelab.db.migrations import LATEST
from moelab.db.sample import synthetic_chunk
from moelab.engine.version import ENGINE_VERSION


def test_trained_runs_record_the_engine_version(tmp_path):
    db = tmp_path / "lab.duckdb"
    assert main(["run", "fig5", "--quick", "--db", str(db)]) == 0
    with open_store(db) as store:
        exp = store.create_experiment("old", None, "{}", status="done")
        store.write_runs(exp, [synthetic_chunk(2)])
        _, rows = store.query("SELECT experiment_id, engine_version, count(*) FROM runs "
                              "GROUP BY ALL ORDER BY 1")
        _, version = store.query("SELECT max(version) FROM schema_migrations")
    assert [tuple(r) for r in rows] == [(1, ENGINE_VERSION, 3), (exp, None, 2)]
    assert tuple(version[0]) == (LATEST,) and LATEST >= 7
