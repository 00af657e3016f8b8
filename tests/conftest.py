"""Fixtures shared by the test files that start a real lab service."""

from __future__ import annotations

import os
import signal

import pytest

from moelab.engine.service.client import connect
from moelab.engine.service.launch import stop_service
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
