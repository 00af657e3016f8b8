"""End to end in a real terminal: tmux runs `moelab --db <temp>`, one key queues
fig4 --quick on the lab service, and the phase diagram is read back from the screen."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

MOELAB = Path(sys.executable).with_name("moelab")

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("moelab.engine.service") is None,
                       reason="the lab service (engine/service) is not installed"),
    pytest.mark.skipif(not MOELAB.exists(), reason=f"no moelab command at {MOELAB}"),
]


def tmux(*args: str, check: bool = True) -> str:
    out = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise AssertionError(f"tmux {' '.join(args)}: {out.stderr}")
    return out.stdout


def test_quick_start_in_tmux_then_read_the_phase_diagram(tmp_path):
    db = tmp_path / "lab.duckdb"
    session = f"moelab-test-{os.getpid()}"
    env = f"MOELAB_STATE_DIR={tmp_path / 'state'} TERM=xterm-256color"
    # A private tmux server (-L) keeps the test away from the user's sessions.
    server = ["-L", session]
    tmux(*server, "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
         f"cd {tmp_path} && env {env} {MOELAB} --db {db}; sleep 30")
    try:
        wait_for_s = lambda cond, t: wait_for_server(server, session, cond, t)  # noqa: E731
        wait_for_s(lambda s: "Welcome to moelab" in s, 60)
        tmux(*server, "send-keys", "-t", session, "Space")
        wait_for_s(lambda s: "fig4 --quick" in s, 30)
        wait_for_s(lambda s: "done" in s and "400" in s, 400)
        tmux(*server, "send-keys", "-t", session, "3")
        text = wait_for_s(lambda s: "4.A.2/2" in s and "sparsity →" in s, 60)
        assert "4.A.1/1" in text and "4.A.1/2" in text
        assert "0.025" in text and "0.975" in text and "2.95" in text  # the axes' ends
        coloured = tmux(*server, "capture-pane", "-p", "-e", "-t", session)
        assert "48;5;196m" in coloured or "48;2;255;0;0m" in coloured  # red: superposition
        tmux(*server, "send-keys", "-t", session, "C-q")
    finally:
        tmux(*server, "kill-server", check=False)
        subprocess.run([str(MOELAB), "engine", "stop", "--db", str(db)],
                       capture_output=True, timeout=60)


def wait_for_server(server: list[str], session: str, condition, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = tmux(*server, "capture-pane", "-p", "-t", session)
        if condition(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"timed out; the screen shows:\n{text}")
