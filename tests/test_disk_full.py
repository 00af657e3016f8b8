"""A full disk does not throw trained results away (issue 11, item 5): on a small tmpfs the
service says "no space left … (needs about N MB)", holds the trained unit, and stores it once
space frees; the experiment completes with every run once, and no temporary file is left.
Needs root (to mount a tmpfs); skipped otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from service_helpers import experiment, finished, tiny, wait_for

from moelab.engine.service.client import connect, stop_service

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    yield disk
    try:
        stop_service(disk / "lab.duckdb", timeout=30)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(path: Path) -> None:
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError:
            pass


def test_full_disk_holds_the_unit_and_stores_it_when_space_frees(small_disk, monkeypatch):
    monkeypatch.setenv("MOELAB_UNIT_WORK", "1")  # one run a unit
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = small_disk / "lab.duckdb"
    client = connect(db, autostart=True)
    eid = client.submit(tiny(4000, "0.3,0.5,0.7,0.8,0.9,0.95"))
    wait_for(lambda: (experiment(client, eid)["runs_stored"] or 0) >= 1, every=0.05)
    filler = small_disk / "filler"
    _fill(filler)

    def waiting_for_space():  # said in the status: the file itself cannot take a word
        r = client.status()["running"]
        return r if r and "no space left" in (r.get("notice") or "") else None
    running = wait_for(waiting_for_space, timeout=120)
    assert running["experiment_id"] == eid and "needs about" in running["notice"]
    assert running["runs_stored"] < 6
    out = subprocess.run([sys.executable, "-m", "moelab.cli", "status", "--db", str(db)],
                         capture_output=True, text=True, timeout=60)
    assert "no space left" in out.stdout
    filler.unlink()
    row = wait_for(lambda: finished(client, eid), timeout=120)
    assert row["status"] == "done", row["message"]
    _, counts = client.sql(f"SELECT count(*), count(DISTINCT point) FROM runs "
                           f"WHERE experiment_id = {eid}")
    assert counts == [[6, 6]]
    client.close()
    stop_service(db, timeout=30)
    left = sorted(p.name for p in small_disk.iterdir())
    assert left == ["lab.duckdb", "lab.duckdb.service.log"], left
