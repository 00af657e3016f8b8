"""Nobody else's code runs as the lab's owner (issue 25, items 2 and 3).

Item 2: no process of ours puts its current folder on sys.path, so a module planted there
(the database's folder, the user's or the server's current folder) is never imported.
Item 3: a metric module, its folder and a --config file must be the owner's (or root's)
and writable by nobody else; a bytecode cache beside a metric module is never read.
Ownership cases run as root with a second local user (skipped otherwise).
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from safety_support import cli, make_lab, one_clear_line

from moelab.engine.custom_metrics import MetricError, load

PLANTED = ("duckdb", "numpy", "multiprocessing", "tomllib")


def _plant(folder: Path) -> Path:
    """Modules that, imported from `folder`, leave a marker (and fail): the ones our
    processes import first, and moelab itself."""
    marker = folder / "PLANTED-RAN"
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\nraise ImportError('planted')\n"
    for name in PLANTED:
        (folder / f"{name}.py").write_text(code)
    (folder / "moelab").mkdir()
    (folder / "moelab" / "__init__.py").write_text(code)
    return marker


# ------------------------------------------------------------------ item 2: sys.path

def test_the_service_imports_nothing_from_the_database_folder(tmp_path):
    folder = tmp_path / "labdir"
    folder.mkdir(mode=0o700)
    marker = _plant(folder)
    db = folder / "lab.duckdb"
    try:
        started = cli("engine", "start", db=db, timeout=120)
        assert started.returncode == 0, started.stderr
        assert cli("status", db=db).returncode == 0
    finally:
        cli("engine", "stop", db=db, timeout=120)
    assert not marker.exists(), marker.read_text()


def test_the_form_check_helper_imports_nothing_from_the_current_folder(tmp_path,
                                                                        monkeypatch):
    from moelab.engine.presets import get
    from moelab.tui.validate import Helper
    marker = _plant(tmp_path)
    monkeypatch.chdir(tmp_path)
    models, steps, problems = Helper().check(get("tms-classic").raw(True), "x", lambda: False)
    assert models > 0 and steps > 0 and problems == []
    assert not marker.exists(), marker.read_text()


def test_a_served_tab_imports_nothing_from_the_servers_folder(tmp_path):
    from moelab.cmd_serve import app_command
    command = app_command(tmp_path / "lab.duckdb")
    assert shlex.split(command)[1:4] == ["-P", "-m", "moelab.cli"]
    marker = _plant(tmp_path)
    ran = subprocess.run(f"{command} --help", shell=True, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0 and "moelab" in ran.stdout, ran.stderr
    assert not marker.exists(), marker.read_text()


def test_a_spawned_training_worker_imports_nothing_from_the_current_folder(tmp_path,
                                                                           monkeypatch):
    """A foreground `moelab run` has no -P itself; its spawned worker must not import from
    the folder it was started in (multiprocessing starts it with `python -c`)."""
    from moelab.engine.executors.local import LocalExecutor, _Worker
    marker = _plant(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = dict(os.environ)
    worker = _Worker(LocalExecutor()._ctx)
    assert dict(os.environ) == env  # the parent's environment is left as it was
    try:
        worker.conn.send_bytes(b"Q")  # quit: a worker that started cleanly exits 0
        worker.proc.join(60)
        assert worker.proc.exitcode == 0
    finally:
        if worker.proc.is_alive():
            worker.proc.kill()
    assert not marker.exists(), marker.read_text()


# ------------------------------------------------------------------ item 3: metric code

METRIC = "def f(run):\n    return 1.0\n"


def _module(folder: Path, mode: int = 0o700) -> Path:
    folder.mkdir(exist_ok=True)
    folder.chmod(mode)
    (folder / "secmet.py").write_text(METRIC)
    return folder


def _registered(db: Path) -> str:
    return cli("metric", "list", db=db).stdout


def test_a_metric_in_a_world_writable_folder_is_refused(shared, tmp_path):
    db = tmp_path / "lab.duckdb"
    _module(shared, 0o777)
    err = one_clear_line(cli("metric", "add", "m", "secmet:f", db=db, cwd=shared))
    assert "can be changed by anyone" in err and "folder only you can write" in err
    assert "secmet" not in _registered(db)
    with pytest.raises(MetricError, match="can be changed by anyone"):
        load("secmet:f", str(shared))  # the worker's load, for a config naming that path


def test_a_metric_in_a_group_writable_folder_is_refused(tmp_path):
    folder = _module(tmp_path / "mets", 0o770)
    err = one_clear_line(cli("metric", "add", "m", "secmet:f", db=tmp_path / "lab.duckdb",
                             cwd=folder))
    assert "can be changed by its group" in err


def test_a_metric_folder_or_file_of_another_user_is_refused(other_user, tmp_path):
    theirs = _module(tmp_path / "theirs", 0o755)
    os.chown(theirs, other_user.pw_uid, other_user.pw_gid)
    mine = _module(tmp_path / "mine", 0o700)
    os.chown(mine / "secmet.py", other_user.pw_uid, other_user.pw_gid)
    db = tmp_path / "lab.duckdb"
    for folder in (theirs, mine):
        err = one_clear_line(cli("metric", "add", "m", "secmet:f", db=db, cwd=folder))
        assert f"belongs to user {other_user.pw_name}, not you" in err
    assert "secmet" not in _registered(db)


def _plant_bytecode(source: Path, marker: Path) -> None:
    """A __pycache__ entry that matches the source's mtime and size (what the import system
    checks) but whose code leaves a marker and returns 2.0."""
    st = source.stat()
    code = compile(f"open({str(marker)!r}, 'w').write('ran')\ndef f(run):\n    return 2.0\n",
                   str(source), "exec")
    header = (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
              + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
              + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
    cache = Path(importlib.util.cache_from_source(str(source)))
    cache.parent.mkdir(exist_ok=True)
    cache.write_bytes(header + marshal.dumps(code))


def test_a_planted_bytecode_cache_never_runs(tmp_path):
    folder = _module(tmp_path / "mets", 0o700)
    marker = tmp_path / "PYC-RAN"
    _plant_bytecode(folder / "secmet.py", marker)
    db = make_lab(tmp_path / "lab.duckdb")
    added = cli("metric", "add", "m", "secmet:f", db=db, cwd=folder)
    assert added.returncode == 0, added.stderr
    assert not marker.exists()
    assert cli("metric", "compute", "m", db=db, cwd=tmp_path).returncode == 0
    assert not marker.exists()
    values = cli("sql", "SELECT DISTINCT value FROM custom_metrics", "--format", "csv",
                 db=db).stdout
    assert "1.0" in values and "2.0" not in values, values
    sys.modules.pop("secmet", None)
    assert load("secmet:f", str(folder))(None) == 1.0 and not marker.exists()


# ------------------------------------------------------------------ item 3: configs

CONFIG = """name = "t"
[model]
kind = "moe"
n_features = 5
d_hidden = 2
n_experts = 2
[train]
steps = 2
seeds = 1
"""


def test_a_config_of_another_user_or_writable_by_others_is_refused(other_user, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    db = tmp_path / "lab.duckdb"
    config.chmod(0o666)
    err = one_clear_line(cli("run", "--config", str(config), db=db))
    assert "can be changed by anyone" in err and "metrics, which are code" in err
    config.chmod(0o644)
    os.chown(config, other_user.pw_uid, other_user.pw_gid)
    for command in ("run", "queue"):
        err = one_clear_line(cli(command, "--config", str(config), db=db))
        assert f"belongs to user {other_user.pw_name}" in err
    assert not db.exists() or "experiment" not in cli("status", db=db).stdout.lower()


def test_a_config_naming_a_metric_path_others_can_write_is_refused(shared, tmp_path):
    _module(shared, 0o777)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG + f'metrics = [{{ name = "m", target = "secmet:f", '
                               f'path = "{shared}" }}]\n')
    err = one_clear_line(cli("run", "--config", str(config), db=tmp_path / "lab.duckdb"))
    assert "train.metrics m" in err and "can be changed by anyone" in err
