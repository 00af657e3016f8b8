"""Your own metrics (issue 14): `moelab metric add|compute`, computed for new runs in the
worker, a failing metric, and bad input (one line, exit status 2, nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
from safety_support import cli, make_lab, one_clear_line

from moelab.cli import main
from moelab.db import open_read_only
from moelab.engine.custom_metrics import MetricError, shaped

MODULE = '''
import numpy as np

def top_norm(run, scale=1.0):
    return scale * float(np.linalg.norm(run.W, axis=1).max())

def mean_input(run, inputs):
    return inputs.mean(0)

def dense_fails(run):
    if run.router is None:
        raise ValueError("a dense run has no router")
    return {"expert": run.router.max(1)}

def five_values(run):
    return np.zeros(5)

def two_args(run, a, b):
    return 1.0
'''


@pytest.fixture
def lab(tmp_path, monkeypatch):
    (tmp_path / "cm_metrics.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)  # `metric add` finds modules from the current folder
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = tmp_path / "lab.duckdb"

    def cli(*args) -> int:
        return main([*args, "--db", str(db)])

    def rows(sql: str) -> list:
        with open_read_only(db) as store:
            return store.query(sql)[1]

    cli.rows = rows
    cli.db = db
    return cli


def _train(cli) -> None:
    assert cli("run", "fig1-2", "--quick", "--set", "train.steps=30",
               "--set", "train.seeds=1") == 0  # three runs: dense, E=2, E=3 (n = 20)


def test_a_registered_metric_is_computed_for_every_new_run_and_a_failing_one_per_run(lab):
    assert lab("metric", "add", "top", "cm_metrics:top_norm", "--option", "scale=2") == 0
    assert lab("metric", "add", "dense_fails", "cm_metrics:dense_fails") == 0
    _train(lab)
    top = lab.rows("SELECT r.kind, r.n_experts, c.expert, c.feature, c.value FROM "
                   "custom_metrics c JOIN runs r USING (run_id) WHERE c.name = 'top' "
                   "ORDER BY r.run_id")
    assert [(k, e) for k, e, *_ in top] == [("dense", 1), ("moe", 2), ("moe", 3)]
    assert all(expert is None and feature is None and value > 0
               for *_, expert, feature, value in top)
    (run_id,) = lab.rows("SELECT run_id FROM runs WHERE kind = 'moe' AND n_experts = 2")[0]
    W = np.array([w for (w,) in lab.rows(f"SELECT W FROM weights WHERE run_id = {run_id} "
                                         "ORDER BY expert")]).reshape(2, 3, 20)
    assert top[1][-1] == pytest.approx(2 * np.linalg.norm(W, axis=1).max(), rel=1e-5)
    # the failing metric: nothing stored for the dense run, one line saying why
    fails = lab.rows("SELECT r.kind, count(c.value) FROM runs r LEFT JOIN custom_metrics c "
                     "ON c.run_id = r.run_id AND c.name = 'dense_fails' GROUP BY r.run_id, "
                     "r.kind ORDER BY r.run_id")
    assert fails == [("dense", 0), ("moe", 2), ("moe", 3)]
    assert lab.rows("SELECT r.kind, e.error FROM custom_metric_errors e JOIN runs r "
                    "USING (run_id)") == [("dense", "ValueError: a dense run has no router")]


def test_compute_fills_stored_runs_and_reports_a_raise_per_run(lab, capsys):
    _train(lab)
    assert lab("metric", "add", "mean_input", "cm_metrics:mean_input") == 0
    assert lab("metric", "add", "dense_fails", "cm_metrics:dense_fails") == 0
    assert lab("metric", "compute", "mean_input") == 0
    per_run = lab.rows("SELECT run_id, count(*), count(DISTINCT feature), min(value), "
                       "max(value) FROM custom_metrics WHERE name = 'mean_input' GROUP BY 1")
    assert len(per_run) == 3
    assert all(n == 20 and f == 20 and 0 < lo <= hi < 1 for _, n, f, lo, hi in per_run)
    capsys.readouterr()
    assert lab("metric", "compute", "dense_fails", "--experiment", "1") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["moelab: metric dense_fails failed on run 1: ValueError: a dense run has "
                   "no router"]
    assert lab.rows("SELECT DISTINCT run_id FROM custom_metrics WHERE name = 'dense_fails' "
                    "ORDER BY 1") == [(2,), (3,)]


def test_bad_input_is_one_line_exit_2_and_nothing_written(lab, capsys):
    _train(lab)
    capsys.readouterr()
    bad = [("nomod", "cm_missing_module:f", "does not import"),
           ("nofn", "cm_metrics:absent", "no function"),
           ("sig", "cm_metrics:two_args", "must take f(run, **options)"),
           ("notarget", "cm_metrics", "not module:function")]
    for name, target, says in bad:
        assert lab("metric", "add", name, target) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err
    assert lab.rows("SELECT count(*) FROM metric_registry") == [(0,)]
    # a shape the test run accepts (5 features) but the stored runs (20) do not
    assert lab("metric", "add", "five", "cm_metrics:five_values") == 0
    capsys.readouterr()
    assert lab("metric", "compute", "five") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "returned shape (5,)" in err and "nothing was stored" in err
    assert lab.rows("SELECT count(*) FROM custom_metrics") == [(0,)]
    assert lab("metric", "compute", "unknown") == 2


def test_result_shapes():
    assert shaped(1.5, 2, 3, "m")[2].tolist() == [1.5]
    e, f, v = shaped(np.arange(3.0), 2, 3, "m")
    assert f.tolist() == [0, 1, 2] and e.tolist() == [-1, -1, -1]
    e, f, v = shaped(np.arange(2.0), 2, 3, "m")
    assert e.tolist() == [0, 1] and f.tolist() == [-1, -1]
    e, f, v = shaped({"expert": np.arange(3.0)}, 3, 3, "m")  # E = n: said explicitly
    assert e.tolist() == [0, 1, 2]
    e, f, v = shaped(np.ones((2, 3)), 2, 3, "m")
    assert len(v) == 6 and e.tolist() == [0, 0, 0, 1, 1, 1]
    for wrong in (np.ones(4), np.ones((3, 2)), "text"):
        with pytest.raises(MetricError):
            shaped(wrong, 2, 3, "m")


EXITS = {"cm_exit0": ("import sys\nsys.exit(0)\n", "exits while it is imported (SystemExit: 0)"),
         "cm_exit3": ("raise SystemExit(3)\n", "exits while it is imported (SystemExit: 3)"),
         "cm_osexit": ("import os\nos._exit(0)\n", "ended the process that imports and tries")}


def test_a_module_that_exits_at_import_is_one_line_exit_2(tmp_path):
    """Issue 25 item 9: sys.exit(0) / os._exit(0) used to exit 0 silently, SystemExit(3) 3.
    In subprocesses: on the old code os._exit would end pytest itself."""
    folder = tmp_path / "mets"
    folder.mkdir(mode=0o700)
    db = tmp_path / "lab.duckdb"
    for module, (text, says) in EXITS.items():
        (folder / f"{module}.py").write_text(text + "def f(run):\n    return 1.0\n")
        err = one_clear_line(cli("metric", "add", "x", f"{module}:f", db=db, cwd=folder))
        assert says in err, err
    assert "no metrics registered" in cli("metric", "list", db=db).stdout


def test_compute_loads_the_module_from_its_recorded_folder(tmp_path):
    """Issue 25 item 9: `metric compute` from another folder used the current one."""
    folder = tmp_path / "mets"
    folder.mkdir(mode=0o700)
    (folder / "cm_recorded.py").write_text(MODULE)
    db = make_lab(tmp_path / "lab.duckdb")
    assert cli("metric", "add", "top", "cm_recorded:top_norm", db=db, cwd=folder).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("metric", "compute", "top", db=db, cwd=elsewhere)
    assert done.returncode == 0 and "values stored for 6 runs" in done.stdout, done.stderr
