"""The Python API (issue 14): `moelab.open` on a bare file and through a running lab
service, and docs/api.md's worked example, run as written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moelab.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A file with a quick fig1-2 (dense, E=2, E=3) trained with snapshots, no service."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = tmp_path / "lab.duckdb"
    assert main(["run", "fig1-2", "--quick", "--set", "train.steps=40", "--set",
                 "train.seeds=1", "--set", "train.snapshots=4", "--db", str(db)]) == 0
    return db


def test_import_moelab_is_light():
    code = ("import sys, moelab; moelab.open; "
            "print(sorted(m for m in ('torch', 'textual', 'duckdb', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_api_on_a_bare_file(trained):
    import moelab
    with moelab.open(trained) as lab:
        runs = lab.runs(where="n_experts > 1", columns=["run_id", "n_experts", "eval_loss"])
        assert list(runs.columns) == ["run_id", "n_experts", "eval_loss"]
        assert runs.n_experts.tolist() == [2, 3]
        every = lab.runs()
        assert "config" not in every.columns and len(every) == 3
        assert lab.runs(columns=["config"], limit=1).config.str.startswith("{").all()
        table = lab.runs(format="arrow")
        assert table.num_rows == 3 and lab._service is None  # read from the file itself
        w = lab.weights(int(runs.run_id.iloc[1]))
        assert w.W.shape == (3, 2, 20) and w.b.shape == (3, 20) and w.router.shape == (3, 20)
        assert w.expert(2)[0].shape == (2, 20)
        dense = lab.weights(1)
        assert dense.router is None and dense.W.shape == (1, 6, 20)
        steps = lab.snapshot_steps(2)
        assert steps[0] == 0 and steps[-1] == 40 and len(steps) == 4
        assert np.array_equal(lab.weights(2, step=40).W, lab.weights(2).W)
        assert set(lab.dynamics(2).step) == set(steps)
        assert lab.experiment(1)["status"] == "done" and lab.experiment(99) is None
        assert len(lab.experiments()) == 1
        with pytest.raises(KeyError):
            lab.weights(2, step=7)
        from moelab.db import QueryRefused
        with pytest.raises(QueryRefused):
            lab.sql("DELETE FROM runs")


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_worked_example_against_a_running_service(tmp_path, monkeypatch):
    """docs/api.md's Python blocks, in order, on a fresh database: queue() starts the lab
    service, and every read after it goes through the service."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    blocks = _code_blocks(DOC.read_text())
    example = [b for b in blocks if "moelab.open" in b or "lab." in b]
    assert len(example) >= 4
    namespace: dict = {}
    from moelab.engine.service.client import stop_service
    from moelab.engine.service.paths import ServicePaths, pid_alive, read_info
    db = tmp_path / "lab.duckdb"
    try:
        for block in example:
            if "lab.close()" in block:  # the last block: check the service was used first
                assert namespace["lab"]._service is not None
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        info = read_info(ServicePaths.of(db))
        try:
            stop_service(db, timeout=30)
        finally:
            if info and pid_alive(info["pid"]):
                os.kill(info["pid"], signal.SIGKILL)
    assert len(namespace["runs"]) == 3
    assert namespace["table"].num_rows == 2  # MoE Lens: the two MoE runs


def test_a_reply_file_nobody_came_for_is_swept_by_the_next_reply(trained, tmp_path,
                                                                 monkeypatch):
    """A client that dies between the service's reply and reading it leaves an Arrow file;
    the next reply removes it once it is older than ARROW_FILE_MAX_AGE."""
    from moelab.db import open_read_only
    from moelab.db.reads import dynamics as rd
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with open_read_only(trained) as store:
        left = rd.arrow_file(store, "SELECT 1 AS x")["path"]  # never read
        os.utime(left, (0, 0))  # as if from long ago
        fresh = rd.arrow_file(store, "SELECT 2 AS x")
    assert not os.path.exists(left)
    assert rd.read_arrow_file(fresh).column("x").to_pylist() == [2]
    assert not os.path.exists(fresh["path"])
    folder = os.path.dirname(fresh["path"])
    assert os.stat(folder).st_mode & 0o777 == 0o700
