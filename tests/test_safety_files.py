"""The lab's files are private and cannot be aimed by another user (issue 11, items 1 and 3).

The attacks run as a second local user, created with useradd when the tests run as root
(skipped otherwise), planting links and files in a world-writable folder next to a database
of the user running the tests.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from safety_support import as_other, cli, make_lab, one_clear_line, running_service

from moelab.db import StoreError, open_store
from moelab.engine.service.client import ServiceClient
from moelab.engine.service.paths import ServicePaths
from moelab.engine.service.safefiles import UnsafeFile, open_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_files_are_born_private(tmp_path, monkeypatch):
    monkeypatch.delenv("MOELAB_UMASK", raising=False)
    db = make_lab(tmp_path / "lab.duckdb")
    with running_service(db):
        paths = ServicePaths.of(db)
        with ServiceClient(db) as client:
            client.sql("SELECT count(*) FROM runs")
        for path in (db, Path(f"{db}.wal"), paths.info, paths.log, paths.socket):
            if path.exists():
                assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
    out = tmp_path / "runs.csv"
    assert cli("export", "data", "runs", "--out", str(out), db=db).returncode == 0
    assert _mode(out) == 0o600


def test_share_with_the_group_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_UMASK", "027")
    db = make_lab(tmp_path / "lab.duckdb")
    assert _mode(db) == 0o640
    monkeypatch.setenv("MOELAB_UMASK", "seven")
    with pytest.raises(StoreError, match="MOELAB_UMASK"):
        open_store(tmp_path / "other.duckdb")
    one_clear_line(cli("status", db=db, env={"MOELAB_UMASK": "seven"}))


def test_a_fifo_as_db_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "lab.duckdb"
    os.mkfifo(fifo)
    for args in (("status",), ("sql", "SELECT 1"), ("runs",), ("engine", "start")):
        assert "not a regular file" in one_clear_line(cli(*args, db=fifo, timeout=20))
    with pytest.raises(StoreError, match="not a regular file"):
        open_store(fifo)


def test_side_files_are_not_followed_through_links(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "lab.duckdb.service.log"
    link.symlink_to(victim)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        open_private(link, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("planted", ["service.log", "service.json", "sock", "service.log.1",
                                     "tmp"])
def test_links_planted_by_another_user_are_refused(other_user, shared, tmp_path, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    db = shared / "lab.duckdb"
    as_other(other_user, "ln", "-s", str(victim), f"{db}.{planted}")
    err = one_clear_line(cli("engine", "start", db=db, timeout=60))
    assert "symbolic link" in err or "belongs to" in err, err
    assert victim.read_text() == "keep me\n"  # neither truncated nor appended to
    assert not db.exists()


@pytest.mark.parametrize("planted", ["", ".wal", ".service.json", ".service.log", ".sock"])
def test_files_owned_by_another_user_are_refused(other_user, shared, planted):
    db = shared / "lab.duckdb"
    if planted:
        make_lab(db)
    as_other(other_user, "touch", f"{db}{planted}")
    err = one_clear_line(cli("engine", "start", db=db, timeout=60))
    assert other_user.pw_name in err and "not you" in err, err
    if planted in ("", ".wal"):  # the store refuses too, whoever opens it for writing
        with pytest.raises(StoreError, match="not you"):
            open_store(db)


def test_another_users_database_can_still_be_read(other_user, shared, tmp_path):
    """Sharing read-only: a database someone else owns is read directly, never written."""
    db = make_lab(tmp_path / "theirs.duckdb")
    os.chown(db, other_user.pw_uid, other_user.pw_gid)
    proc = cli("sql", "SELECT count(*) AS n FROM runs", "--format", "csv", db=db)
    assert proc.returncode == 0 and proc.stdout.split() == ["n", "6"], proc.stderr
    assert "not you" in one_clear_line(cli("queue", "tms-classic", "--quick", db=db))
