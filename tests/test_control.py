"""Seed controls (`moelab run/queue --control`, issue 20) and `moelab queue crosscoder-NAME`
(issue 20 item 9)."""

from __future__ import annotations

import json

from safety_support import cli, make_lab, one_clear_line, running_service

from moelab.db import open_store

TINY = ("--set", "train.steps=10", "--set", "train.seeds=2")


def _experiments(db) -> list[tuple]:
    with open_store(db, read_only=True) as store:
        _, rows = store.query("SELECT experiment_id, name, config FROM experiments "
                              "ORDER BY experiment_id")
    return [(e, n, json.loads(c)) for e, n, c in rows]


def _seeds(db, eid: int) -> list[int]:
    with open_store(db, read_only=True) as store:
        _, rows = store.query("SELECT DISTINCT seed FROM runs WHERE experiment_id = ? "
                              "ORDER BY 1", [eid])
    return [r[0] for r in rows]


def test_run_control_trains_a_second_experiment_with_other_seeds(tmp_path):
    db = tmp_path / "lab.duckdb"
    proc = cli("run", "fig1-2", "--quick", *TINY, "--control", db=db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (a, name_a, cfg_a), (c, name_c, cfg_c) = _experiments(db)
    assert name_c == f"{name_a} (control of {a})"
    assert _seeds(db, a) == [0, 1] and _seeds(db, c) == [2, 3]  # no seed shared
    for cfg in (cfg_a, cfg_c):
        cfg.pop("name")
        cfg["train"].pop("seed")
    assert cfg_a == cfg_c  # the same config but the seed


def test_control_of_a_missing_or_foreign_experiment_is_one_line(tmp_path):
    db = tmp_path / "lab.duckdb"
    assert "no database" in one_clear_line(cli("queue", "--control", "3", db=db))
    make_lab(db)
    with open_store(db) as store:
        store.create_experiment("cc", None, '{"family": "crosscoder"}', status="done")
    assert "no experiment with id 3" in one_clear_line(cli("queue", "--control", "3", db=db))
    assert "not a toy-model experiment" in one_clear_line(cli("run", "--control", "2", db=db))
    assert "give --control alone" in one_clear_line(
        cli("run", "fig4", "--control", "1", db=db))
    assert len(_experiments(db)) == 2  # nothing queued or trained


def test_a_config_that_sweeps_the_seed_has_no_automatic_control(tmp_path):
    db = tmp_path / "lab.duckdb"
    err = one_clear_line(cli("run", "fig1-2", "--quick", "--sweep", "train.seed=0,5",
                             "--control", db=db))
    assert "sweeps train.seed" in err and not db.exists()


def test_queue_control_and_a_crosscoder_preset_on_the_service(tmp_path):
    db = tmp_path / "lab.duckdb"
    make_lab(db)
    with running_service(db):
        proc = cli("queue", "fig4", "--quick", *TINY, "--control", db=db)
        assert proc.returncode == 0, proc.stderr
        eid = int(proc.stdout.strip())
        proc = cli("queue", "crosscoder-fig1-2", "--quick", db=db)  # was "unknown preset"
        assert proc.returncode == 0, proc.stderr
        cc = int(proc.stdout.strip())
        proc = cli("queue", "--control", str(eid), db=db)
        assert proc.returncode == 0, proc.stderr
        again = int(proc.stdout.strip())
        for e in (eid, eid + 1, cc - 1, cc, again):
            cli("cancel", str(e), db=db)
    rows = {e: (n, c) for e, n, c in _experiments(db)}
    assert rows[eid + 1][0] == "fig4 --quick (control of 2)" == rows[again][0]
    assert rows[eid][1]["train"]["seed"] == 0
    assert rows[eid + 1][1]["train"]["seed"] == rows[again][1]["train"]["seed"] == 2
    assert rows[cc - 1][0] == "crosscode --preset fig1-2 --quick (models)"
    assert rows[cc][1]["source"]["experiment"] == cc - 1
