"""Results stream in and a stopped sweep resumes (issue 10), on the real service: runs are
visible while the experiment still trains, a kill -9 of the service at about half loses at
most the unit in flight, and the restarted service finishes with weights bitwise equal to an
uninterrupted run and no run stored twice."""

from __future__ import annotations

import os
import signal

import numpy as np
from runner_support import run_in_memory
from service_helpers import experiment, finished, tiny, wait_for

from moelab.engine.config import from_dict
from moelab.engine.service.paths import pid_alive

SPARSITIES = "0.3,0.4,0.5,0.6,0.7,0.8,0.85,0.9,0.93,0.96"


def _stored_weights(client, eid: int) -> dict:
    _, rows = client.sql(f"SELECT r.point, r.seed, w.expert, w.W, w.b FROM runs r JOIN weights w "
                         f"USING (run_id) WHERE r.experiment_id = {eid}")
    return {(p, s, e): (np.asarray(W, np.float32), np.asarray(b, np.float32))
            for p, s, e, W, b in rows}


def test_stream_kill9_at_half_resume_bitwise_and_no_duplicates(lab, monkeypatch):
    monkeypatch.setenv("MOELAB_UNIT_WORK", "1")  # one run per unit: ten units
    raw = tiny(3000, SPARSITIES)
    client = lab()
    eid = client.submit(raw)

    def partly_stored():
        row = experiment(client, eid)
        return row if row["status"] == "running" and 3 <= (row["runs_stored"] or 0) < 10 \
            else None
    row = wait_for(partly_stored, every=0.05)
    assert row["n_runs"] == 10 and row["n_units"] == 10
    _, visible = client.sql(f"SELECT count(*) FROM runs WHERE experiment_id = {eid}")
    assert 3 <= visible[0][0] < 10  # the views show a partly trained experiment
    _, panel = client.sql(f"SELECT runs_stored, n_runs FROM experiments "
                          f"WHERE experiment_id = {eid}")
    assert panel[0][1] == 10

    pid = client.status()["service"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=10)
    client = lab()  # a new service on the same file resumes by itself
    assert wait_for(lambda: finished(client, eid), timeout=120)["status"] == "done"
    log = lab.paths.log.read_text()
    assert "resumes:" in log and "units stored" in log

    _, counts = client.sql(f"SELECT count(*), count(DISTINCT (point, seed)), "
                           f"count(*) FILTER (WHERE chosen) FROM runs WHERE experiment_id = {eid}")
    assert counts == [[10, 10, 10]]  # tms-classic keeps every seed: select = "all"
    _, units = client.sql(f"SELECT count(*), sum(n_runs) FROM units WHERE experiment_id = {eid}")
    assert units == [[10, 10]]

    reference = run_in_memory(from_dict(raw), "cpu")  # uninterrupted, in one unit
    want = {}
    for tables in reference.chunks:
        runs, w = tables["runs"], tables["weights"]
        for i, expert in zip(w["local_index"], w["expert"], strict=True):
            key = (int(runs["point"][i]), int(runs["seed"][i]), int(expert))
            rows = (np.asarray(w["local_index"]) == i) & (np.asarray(w["expert"]) == expert)
            want[key] = (np.asarray(w["W"])[rows][0], np.asarray(w["b"])[rows][0])
    got = _stored_weights(client, eid)
    assert got.keys() == want.keys()
    for key, (W, b) in want.items():
        assert np.array_equal(got[key][0], W) and np.array_equal(got[key][1], b), key
