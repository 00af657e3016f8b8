"""Issue 25 items 11 and 12: after a kill -9, a damaged write-ahead log is said (never a
silent drop of the last experiment, never a traceback), and a foreground run whose process
is gone is not shown as running."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from safety_support import MOELAB, cli, one_clear_line

from moelab.db import StoreError, open_store

# Two experiments: the first checkpointed into the file, the second only in the WAL when the
# process is killed (DuckDB checkpoints at 16 MB or at close, neither of which happens).
WRITER = r"""
import sys, time
from moelab.db import open_store
from moelab.db.sample import synthetic_chunk
db = sys.argv[1]
with open_store(db) as store:
    store.write_runs(store.create_experiment("first", None, "{}", status="done"),
                     [synthetic_chunk(4)])
store = open_store(db)
store.write_runs(store.create_experiment("last", None, "{}", status="done"),
                 [synthetic_chunk(4)])
print("written", flush=True)
time.sleep(60)
"""


@pytest.fixture(scope="module")
def killed_lab(tmp_path_factory):
    """A database and its WAL as a kill -9 left them (the WAL holds experiment 2)."""
    folder = tmp_path_factory.mktemp("wal")
    db = folder / "lab.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    wal = folder / "lab.duckdb.wal"
    assert wal.stat().st_size > 0
    return db.read_bytes(), wal.read_bytes()


def _lab(tmp_path, killed_lab, damage):
    db_bytes, wal_bytes = killed_lab
    db = tmp_path / "lab.duckdb"
    db.write_bytes(db_bytes)
    (tmp_path / "lab.duckdb.wal").write_bytes(damage(wal_bytes))
    return db


def _names(db) -> list[str]:
    with open_store(db, read_only=True) as store:
        return [r[0] for r in store.query("SELECT name FROM experiments ORDER BY 1")[1]]


def _runs(db) -> int:
    with open_store(db, read_only=True) as store:
        return store.query("SELECT count(*) FROM runs")[1][0][0]


DAMAGE = {
    "truncated": lambda w: w[: len(w) - 100],
    "zeroed": lambda w: bytes(len(w)),
    "random": lambda w: random.Random(25).randbytes(len(w)),
}


def test_an_intact_wal_replays_without_a_word(tmp_path, killed_lab, caplog):
    db = _lab(tmp_path, killed_lab, lambda w: w)
    with caplog.at_level(logging.WARNING, logger="moelab.db"):
        assert _names(db) == ["first", "last"] and _runs(db) == 8
        open_store(db).close()
    assert not caplog.records
    assert not list(tmp_path.glob("*.bad-*"))


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_wal_is_said_and_kept(tmp_path, killed_lab, caplog, kind):
    db = _lab(tmp_path, killed_lab, DAMAGE[kind])
    damaged = (tmp_path / "lab.duckdb.wal").read_bytes()
    with caplog.at_level(logging.WARNING, logger="moelab.db"):
        open_store(db).close()  # what the service does at start: it goes on
    [record] = caplog.records
    line = record.getMessage()
    assert "\n" not in line and line.startswith("moelab: the write-ahead log ")
    assert "could not be replayed whole" in line and "may be lost" in line
    [copy] = tmp_path.glob("lab.duckdb.wal.bad-*")
    assert str(copy) in line
    assert copy.read_bytes() == damaged  # the log as it was, before DuckDB overwrote it
    assert copy.stat().st_mode & 0o777 == 0o600
    assert _runs(db) < 8  # some of the last experiment was lost (so the message was needed)


def test_status_lists_a_kept_log(tmp_path, killed_lab):
    db = _lab(tmp_path, killed_lab, DAMAGE["zeroed"])
    out = cli("status", db=db)  # the warning on stderr, then the copy in the status
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("\n") == 1 and "could not be replayed whole" in out.stderr
    # A read-only open writes nothing: the log stays where it is, uncopied.
    assert not list(tmp_path.glob("lab.duckdb.wal.bad-*"))
    open_store(db).close()
    [copy] = tmp_path.glob("lab.duckdb.wal.bad-*")
    out = cli("status", db=db)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert f"damaged   a write-ahead log could not be replayed whole; it is kept at {copy}" \
        in out.stdout


def test_a_wal_duckdb_refuses_says_how_to_recover(tmp_path, killed_lab):
    def flip(w):
        mid = len(w) - 200  # inside the last experiment's entries: the checksum breaks
        return w[:mid] + bytes(b ^ 0xFF for b in w[mid:mid + 8]) + w[mid + 8:]
    db = _lab(tmp_path, killed_lab, flip)
    wal = tmp_path / "lab.duckdb.wal"
    err = one_clear_line(cli("engine", "start", db=db, timeout=120))
    assert f"the write-ahead log {wal} could not be replayed" in err
    [copy] = tmp_path.glob("lab.duckdb.wal.bad-*")
    assert f"kept at {copy}" in err and f"`rm {wal}`" in err
    with pytest.raises(StoreError, match="remove the log"):
        open_store(db)
    wal.unlink()  # the recovery the message gives
    assert _names(db) == ["first"]


# -- item 12: a foreground run killed with -9 ------------------------------------------------

def test_status_shows_a_killed_foreground_run_as_interrupted(tmp_path):
    db = tmp_path / "lab.duckdb"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([*MOELAB, "run", "fig5", "--quick", "--device", "cpu", "--set",
                            "train.steps=1000000", "--db", str(db)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert run.poll() is None and time.monotonic() < deadline
            out = cli("status", "--json", db=db) if db.exists() else None
            if out is not None and out.returncode == 0 and json.loads(out.stdout)["foreground"]:
                break
            time.sleep(0.3)
    finally:
        run.kill()  # SIGKILL: it cannot record anything
        run.wait()
    out = cli("status", db=db)
    assert out.returncode == 0, out.stderr
    assert "running   #1" not in out.stdout, out.stdout
    assert re.search(rf"^interrupted #1 .+: its process \(foreground pid {run.pid} on .+\) "
                     "is gone", out.stdout, re.M), out.stdout
    assert "resumes when the service starts (`moelab engine start`)" in out.stdout
    st = json.loads(cli("status", "--json", db=db).stdout)
    assert st["foreground"] == [] and [r["experiment_id"] for r in st["stale_running"]] == [1]


def test_wal_helpers_leave_a_healthy_folder_alone(tmp_path):
    from moelab.db.wal import copies
    assert copies(tmp_path / "lab.duckdb") == []
    shutil.rmtree(tmp_path)
    assert copies(tmp_path / "lab.duckdb") == []  # no folder: nothing to list, no error
