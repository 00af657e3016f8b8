"""`moelab runs --columns … --sort …` and `moelab sql --format csv` line endings."""

from __future__ import annotations

import json

from test_tui_support import seeded_db

from moelab.cli import main


def test_sql_csv_ends_lines_with_lf_not_crlf(capsys):
    assert main(["sql", "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'", "--format", "csv",
                 "--db", str(seeded_db())]) == 0
    assert capsys.readouterr().out == "a,b\n1,x\n2,y\n"


def test_runs_columns_config_fields_metric_summaries_and_sort(capsys):
    db = str(seeded_db())
    assert main(["runs", "--columns", "run_id, router_init, model.router_init, min(loss), "
                 "last(loss)", "--sort=-eval_loss", "--where", "experiment_id = 2",
                 "--format", "json", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [list(r) for r in rows] == [["run_id", "router_init", "model.router_init",
                                        "min(loss)", "last(loss)"]] * 3
    assert sorted(r["router_init"] for r in rows) == ["diagonal", "xavier", "zeros"]
    assert all(r["router_init"] == r["model.router_init"] for r in rows)
    assert all(r["min(loss)"] <= r["last(loss)"] for r in rows)
    assert main(["runs", "--columns", "run_id,eval_loss", "--sort", "eval_loss desc", "--where",
                 "experiment_id = 2", "--format", "json", "--db", db]) == 0
    losses = [r["eval_loss"] for r in json.loads(capsys.readouterr().out)]
    assert losses == sorted(losses, reverse=True)


def test_runs_default_columns_include_router_init(capsys):
    assert main(["runs", "--limit", "2", "--format", "csv", "--db", str(seeded_db())]) == 0
    assert "router_init" in capsys.readouterr().out.splitlines()[0].split(",")


def test_runs_unknown_column_is_one_line(capsys):
    assert main(["runs", "--columns", "run_id,nope; DROP TABLE runs", "--db",
                 str(seeded_db())]) == 2
    err = capsys.readouterr().err
    assert "unknown column" in err and len(err.strip().splitlines()) == 1
