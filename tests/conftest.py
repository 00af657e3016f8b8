"""Fixtures shared by the test files that start a real lab service."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from moelab.engine.service.client import connect, stop_service
from moelab.engine.service.paths import ServicePaths, pid_alive, read_info


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A database in a temp dir; whatever service ends up on it is stopped afterwards."""
    # One torch thread in the workers: on a busy 2-core box two threads spinning against
    # another process made 800 tiny steps take 28 s instead of 0.4 s.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = tmp_path / "lab.duckdb"
    clients: list = []

    def open_client(autostart: bool = True):
        c = connect(db, autostart=autostart)
        clients.append(c)
        return c

    open_client.db = db
    open_client.paths = ServicePaths.of(db)
    yield open_client
    for c in clients:
        c.close()
    info = read_info(open_client.paths)
    try:
        stop_service(db, timeout=30)
    finally:
        if info and pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
        if open_client.paths.log.exists():  # shown when a test fails
            print(open_client.paths.log.read_text()[-4000:])


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    """The lab's state, config and export folders in the test's temp dir (TUI tests)."""
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("MOELAB_EXPORT_DIR", raising=False)


OTHER_USER = "moelab-other"


@pytest.fixture(scope="session")
def other_user():
    """A second local user (an attacker on the same machine), created for the test session
    and removed after it; the tests that need one are skipped when not run as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second local user")
    created = False
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false",
                        OTHER_USER], check=True, capture_output=True)
        created = True
    yield pwd.getpwnam(OTHER_USER)
    if created:
        subprocess.run(["userdel", OTHER_USER], capture_output=True)


@pytest.fixture
def shared():
    """A folder anyone may write, without the sticky bit (like a careless project folder),
    where the other user can reach it (pytest's own temp folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="moelab-shared-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
