"""Helpers for the tests/test_safety_*.py files: a small lab database, a real service on it,
files with secrets beside it, and the CLI in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from moelab.db import open_store
from moelab.db.sample import synthetic_chunk

MOELAB = [sys.executable, "-m", "moelab.cli"]

# Files a query must never read, each holding a marker that must never come back.
SECRET_FILES = {
    "data.csv": "a,b\nSECRET-data-csv,2\n",
    "creds.json": '{"token": "SECRET-creds-json"}\n',
    "t.tsv": "a\tb\nSECRET-t-tsv\t2\n",
    "backup.data.csv": "a,b\nSECRET-backup,2\n",
    "notes.txt": "SECRET-notes-txt\n",
}
SECRET = "SECRET-"


def plant_secrets(folder: Path) -> None:
    for name, text in SECRET_FILES.items():
        (folder / name).write_text(text)
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": ["SECRET-blob-parquet"]}), folder / "blob.parquet")


def make_lab(db: Path, n_runs: int = 6) -> Path:
    """A database with one experiment of synthetic runs."""
    with open_store(db) as store:
        exp = store.create_experiment("sweep", None, "{}", status="done")
        store.write_runs(exp, [synthetic_chunk(n_runs)])
    return db


@contextlib.contextmanager
def running_service(db: Path, env: dict | None = None):
    """A real detached lab service on `db`, stopped (or killed) afterwards."""
    from moelab.engine.service.client import stop_service
    from moelab.engine.service.launch import start_service
    from moelab.engine.service.paths import ServicePaths, pid_alive, read_info
    saved = dict(os.environ)
    os.environ.update(env or {})  # the service inherits the environment of its starter
    try:
        info = start_service(db)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield info
    finally:
        try:
            stop_service(db, timeout=30)
        finally:
            live = read_info(ServicePaths.of(db)) or info
            if live and pid_alive(live["pid"]):
                os.kill(live["pid"], signal.SIGKILL)


def cli(*args: str, db: Path | None = None, env: dict | None = None, cwd: Path | None = None,
        timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    extra = ["--db", str(db)] if db is not None else []
    return subprocess.run([*MOELAB, *args, *extra], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd,
                          input=stdin)


def one_clear_line(proc: subprocess.CompletedProcess) -> str:
    """A refusal: exit status 2, one line on stderr starting `moelab:`, no traceback."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("moelab: "), err
    return err


def as_other(user, *argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command as the second user (what an attacker on the same machine can do)."""
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                           "--clear-groups", *argv], check=check, capture_output=True, **kw)
