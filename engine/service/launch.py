"""Starting and stopping the service process from a client (stdlib only: clients stay fast).

The service runs in a new session (setsid), with stdin from /dev/null and its output
appended to `<db>.service.log`, so it has no controlling terminal and a closed terminal or
a lost SSH session does not reach it. It reports "ready" or why it failed on a pipe.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time

from ..client import ClientError
from .logfile import LOG_ROTATE_BYTES
from .paths import ServicePaths, read_info
from .safefiles import apply_umask, check_lab_files, open_private

START_TIMEOUT = 60.0


class AlreadyRunning(ClientError):
    """Another service holds this database."""


def start_service(db_path, timeout: float = START_TIMEOUT, executor: str | None = None) -> dict:
    """Start a detached service for db_path; its info dict once it answers. Its units train
    where the executor URL says (engine/executors/registry.py; default local)."""
    if executor:  # a bad URL or worker count is refused before any process starts
        from ..executors.registry import parse_executor
        parse_executor(executor)
    paths = ServicePaths.of(db_path)
    if not paths.db.parent.is_dir():
        raise ClientError(f"database directory {paths.db.parent} does not exist; create it "
                          "or pass another --db")
    apply_umask()
    check_lab_files(paths)  # before anything is written beside the database
    _rotate(paths)
    log_fd = open_private(paths.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "moelab.engine.service", str(paths.db),
             "--ready-fd", str(write_end), *(["--executor", executor] if executor else [])],
            stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
            start_new_session=True, pass_fds=(write_end,), cwd=str(paths.db.parent))
    finally:
        os.close(write_end)
        os.close(log_fd)
    # Reap it if it ends while we live, so it never lingers as a zombie that looks alive.
    threading.Thread(target=proc.wait, name="service-reaper", daemon=True).start()
    line = _read_line(read_end, timeout)
    if line.startswith("ready "):
        return read_info(paths) or {"pid": proc.pid, "socket": str(paths.socket)}
    if line.startswith("error "):
        message = line[len("error "):]
        if "already runs" in message:
            raise AlreadyRunning(message)
        raise ClientError(message)
    if proc.poll() is None:
        raise ClientError(f"the lab service (pid {proc.pid}) did not answer within "
                          f"{timeout:.0f} s; see {paths.log}")
    raise ClientError(f"the lab service exited at start (status {proc.returncode}); "
                      f"see {paths.log}")


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data.decode(errors="replace").split("\n", 1)[0].strip()


def _rotate(paths: ServicePaths) -> None:
    try:
        if paths.log.lstat().st_size > LOG_ROTATE_BYTES:
            os.replace(paths.log, f"{paths.log}.1")  # renames the entry, follows no link
    except OSError:
        pass
