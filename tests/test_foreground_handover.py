"""A foreground `moelab run` holds the file only to register and to store a unit (its Ledger,
moelab/file_ledger.py, opens it per write). A lab service that starts while it trains takes
the file; the run hands its experiment over, the service resumes it with the units not yet
stored, and the run follows it there to the end (issue 21: the runner keeps this)."""

from __future__ import annotations

import pytest
from rich.console import Console
from service_helpers import tiny

from moelab.db import open_read_only, open_store
from moelab.engine.config import from_dict
from moelab.file_ledger import FileLedger, HandedOver
from moelab.foreground import train_and_store


def test_a_service_started_mid_run_takes_the_experiment_over(lab, monkeypatch):
    monkeypatch.setenv("MOELAB_UNIT_WORK", "1")  # one run a unit: six units
    cfg = from_dict(tiny(300, "0.3,0.5,0.7,0.8,0.9,0.95"), name="handed")
    write = FileLedger.write_unit
    started = []

    def write_then_start_a_service(self, *args):
        n = write(self, *args)
        if not started:  # the file is free between writes: a service can take it now
            started.append(lab())
        return n

    monkeypatch.setattr(FileLedger, "write_unit", write_then_start_a_service)
    t = train_and_store(cfg, lab.db, None, False, "cpu", Console(quiet=True))
    assert t.handed_over and started
    client = lab(autostart=False)
    row = client.read("experiment", experiment_id=t.experiment_id)
    assert row["status"] == "done" and row["owner"] is None, row
    _, counts = client.sql("SELECT count(*), count(DISTINCT (point, seed)) FROM runs")
    assert counts == [[6, 6]]
    assert "resumes: 1 of 6 units stored" in lab.paths.log.read_text()


def test_the_file_ledger_hands_over_only_once_it_registered(tmp_path, monkeypatch):
    import moelab.db
    from moelab.db import StoreLocked
    db = tmp_path / "lab.duckdb"
    ledger = FileLedger(db, "fig4", quick=True)
    eid = ledger.create("x", "{}", "cpu")
    with open_read_only(db) as store:
        row = store.experiment(eid)
    assert row["status"] == "running" and row["owner"].startswith("foreground pid")
    assert row["preset"] == "fig4" and row["quick"] and row["device"] == "cpu"

    def locked(*a, **kw):
        raise StoreLocked("held by a lab service")
    monkeypatch.setattr(moelab.db, "open_store", locked)
    with pytest.raises(HandedOver):
        ledger.set_plan(eid, 1, 1, 1.0)
    with pytest.raises(StoreLocked):  # nothing registered yet: nothing to hand over
        FileLedger(db).create("y", "{}", None)
    monkeypatch.undo()
    with open_store(db) as store:
        assert [e["experiment_id"] for e in store.experiments()] == [eid]
