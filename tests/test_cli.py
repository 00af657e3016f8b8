"""The command line end to end on a --quick preset, and every bad input: one line, exit 2,
nothing written."""

import json
import subprocess
import sys

import pytest

from moelab.cli import main


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "lab.duckdb"
    out = subprocess.run([sys.executable, "-m", "moelab.cli", "run", "fig5", "--quick",
                          "--db", str(path), "--set", "train.steps=200"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "experiment 1" in out.stdout and "3 runs" in out.stdout
    return path


def test_runs_and_sql_read_the_stored_experiment(db, capsys):
    assert main(["sql", "SELECT count(*) AS n FROM runs", "--db", str(db),
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 3}]
    assert main(["runs", "--where", "router_init = 'zeros'", "--db", str(db),
                 "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("run_id,experiment_id") and len(lines) == 2


def test_export_data_writes_parquet_and_csv(db, tmp_path, capsys):
    assert main(["export", "data", "features", "--out", str(tmp_path / "f.parquet"),
                 "--db", str(db)]) == 0
    assert main(["export", "data", "SELECT run_id, eval_loss FROM runs",
                 "--out", str(tmp_path / "r.csv"), "--db", str(db)]) == 0
    assert (tmp_path / "f.parquet").stat().st_size > 0
    assert (tmp_path / "r.csv").read_text().startswith("run_id,eval_loss")


@pytest.mark.parametrize("query", [
    "DROP TABLE runs", "DELETE FROM runs", "UPDATE runs SET seed = 1",
    "INSERT INTO metrics VALUES (1, 1, 'x', 1)", "CREATE TABLE t AS SELECT 1",
    "ATTACH 'other.duckdb'", "COPY runs TO 'x.csv'", "SELECT 1; SELECT 2",
    "SELECT * FROM read_csv('/etc/passwd')", "PRAGMA database_list",
])
def test_sql_refusals_leave_the_file_unchanged(db, query, capsys):
    before = db.read_bytes()
    assert main(["sql", query, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert db.read_bytes() == before


def write(tmp_path, text):
    f = tmp_path / "c.toml"
    f.write_text(text)
    return str(f)


BAD = {
    "unknown preset": (["run", "fig99"], "unknown preset"),
    "unknown field": (["run", "fig5", "--set", "train.stepz=3"], "unknown field train.stepz"),
    "unknown section": (["run", "fig5", "--set", "optim.lr=3"], "unknown section [optim]"),
    "k > n_experts": (["run", "fig5", "--set", "model.k=4"], "more than model.n_experts"),
    "k < 1": (["run", "fig5", "--set", "model.k=0"], "model.k must be at least 1"),
    "d_hidden < 1": (["run", "fig5", "--set", "model.d_hidden=0"], "d_hidden must be at least"),
    "sparsity": (["run", "fig5", "--set", "data.sparsity=1.5"], "data.sparsity must be in"),
    "importance": (["run", "fig5", "--set", "data.importance=[1, -2]"], "importance values"),
    "steps": (["run", "fig5", "--set", "train.steps=0"], "train.steps must be at least 1"),
    "no preset": (["run"], "give a preset name or --config"),
    "bad value": (["run", "fig5", "--set", "model.k=[1,"], "cannot read value"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    argv, fragment = BAD[case]
    db = tmp_path / "x.duckdb"
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert not db.exists()


def test_config_file_errors(tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    bad_syntax = write(tmp_path, "[model]\nk = = 1\n")
    assert main(["run", "--config", bad_syntax, "--db", str(db)]) == 2
    assert "line 2" in capsys.readouterr().err
    unknown = write(tmp_path, "[optimizer]\nlr = 1\n")
    assert main(["run", "--config", unknown, "--db", str(db)]) == 2
    assert "unknown section [optimizer]" in capsys.readouterr().err
    assert not db.exists()


def test_db_in_missing_directory_or_not_duckdb(tmp_path, capsys):
    assert main(["run", "fig5", "--quick", "--db", str(tmp_path / "no" / "x.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database\n")
    assert main(["run", "fig5", "--quick", "--db", str(junk)]) == 2
    assert "not a DuckDB" in capsys.readouterr().err
    assert junk.read_text() == "not a database\n"


def test_device_cuda_without_cuda(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    db = tmp_path / "x.duckdb"
    assert main(["run", "fig5", "--quick", "--device", "cuda", "--db", str(db)]) == 2
    assert "no CUDA" in capsys.readouterr().err
    assert not db.exists()


def test_config_file_run(tmp_path, capsys):
    cfg = write(tmp_path, '[model]\nkind = "moe"\nn_features = 3\nd_hidden = 2\n'
                'n_experts = 2\n[train]\nsteps = 50\neval_samples = 500\n'
                '[sweep]\n"data.sparsity" = [0.5, 0.9]\n')
    db = tmp_path / "c.duckdb"
    assert main(["run", "--config", cfg, "--sweep", "model.gating=renorm,switch",
                 "--db", str(db)]) == 0
    assert "4 runs" in capsys.readouterr().out
