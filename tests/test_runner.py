"""The experiment's life, written once (issue 21, item 1): engine/runner.py over a Ledger.
The service, `moelab run` and `moelab crosscode` all go through run_experiment; here it runs
over an in-memory Ledger with a scripted executor, and once for real (toy family, in-process
executor) against the plain unit path."""

from __future__ import annotations

import numpy as np
import pytest
from runner_support import MemoryLedger, run_in_memory

from moelab.engine.config import ConfigError, from_dict
from moelab.engine.executors.base import UnitDone, UnitFailed, UnitProgress
from moelab.engine.plan import Unit, plan
from moelab.engine.runner import Planned, PlanRefused, UnitStored, run_experiment
from moelab.engine.unit import run_unit


class Result:
    """A trained unit's stand-in: the memory ledger keeps its tables as they are."""
    tables: dict = {}


class Family:
    """Four units of two runs each, planned the same way at every start."""

    def __init__(self, refuse: str | None = None):
        self.refuse = refuse
        self.planned_with: list = []

    def plan(self, cfg, experiment_id=0, unit_work=None, device=None, store=None):
        self.planned_with.append((experiment_id, unit_work, device))
        if self.refuse:
            raise ConfigError([self.refuse])
        return [Unit(experiment_id, i, "fake", "{}", (2 * i, 2 * i + 1), (), "cpu", 10)
                for i in range(4)]


class Cfg:
    name = "fake"

    def to_json(self) -> str:
        return "{}"


class Executor:
    """Trains the units given in order; `fail` fails that unit for good, and cancel() is
    asked after each unit, as the real executors do between units."""
    name = "scripted"

    def __init__(self, fail: int | None = None, boom: int | None = None):
        self.fail, self.boom = fail, boom
        self.given: list[int] = []

    def run(self, units, on_event, cancel):
        self.given = [u.index for u in units]
        for u in units:
            if cancel():
                return "cancelled"
            if u.index == self.boom:
                raise RuntimeError("a bug in training")
            on_event(UnitProgress(u.index, 5, 10, u.n_runs, 0.5, "cpu"))
            if u.index == self.fail:
                on_event(UnitFailed(u, "the worker died"))
                return "failed"
            on_event(UnitDone(u, Result()))
        return "done"

    def close(self) -> None:
        pass


def test_a_new_experiment_is_created_planned_stored_and_done():
    ledger, events = MemoryLedger(), []
    end = run_experiment(ledger, Family(), Cfg(), Executor(), events.append, device="cpu")
    assert end.status == "done" and ledger.rows[end.experiment_id]["status"] == "done"
    assert ledger.calls == ["create", "set_plan", "write 0", "write 1", "write 2", "write 3"]
    plan_ev = events[0]
    assert isinstance(plan_ev, Planned) and plan_ev.n_runs == 8 and plan_ev.stored == set()
    assert all(u.experiment_id == end.experiment_id for u in plan_ev.units)
    stored = [e.unit.index for e in events if isinstance(e, UnitStored)]
    assert stored == [0, 1, 2, 3]


def test_resume_trains_only_the_units_not_stored():
    ledger = MemoryLedger()
    eid = ledger.create("fake", "{}", None)
    ledger.set_plan(eid, 8, 4, 123.0)
    units = Family().plan(Cfg(), eid)
    for i in (0, 2):
        ledger.write_unit(eid, units[i], Result())
    fam, ex, events = Family(), Executor(), []
    end = run_experiment(ledger, fam, Cfg(), ex, events.append, experiment_id=eid)
    assert ex.given == [1, 3]  # the stored units are skipped
    assert fam.planned_with == [(eid, 123.0, None)]  # the size it was first planned with
    assert events[0].stored == {0, 2} and events[0].runs_stored == 4
    assert end.status == "done" and sorted(ledger.units[eid]) == [0, 1, 2, 3]
    assert "create" not in ledger.calls[1:]


@pytest.mark.parametrize("reason, status, says", [
    ("user", "cancelled", "cancelled while it ran (4 of 8 runs stored and kept)"),
    ("stop", "interrupted", "stopped while it ran; it resumes at the next start (4 of 8"),
])
def test_cancel_stops_between_units_and_keeps_what_is_stored(reason, status, says):
    ledger, stored = MemoryLedger(), []

    def on_event(ev):
        if isinstance(ev, UnitStored):
            stored.append(ev.unit.index)

    end = run_experiment(ledger, Family(), Cfg(), Executor(), on_event,
                         lambda: reason if len(stored) >= 2 else None)
    assert stored == [0, 1]
    assert end.status == status and says in end.message
    assert ledger.rows[end.experiment_id]["status"] == status


def test_a_unit_that_fails_for_good_fails_the_experiment():
    ledger = MemoryLedger()
    end = run_experiment(ledger, Family(), Cfg(), Executor(fail=1))
    row = ledger.rows[end.experiment_id]
    assert end.status == row["status"] == "failed"
    assert row["message"] == ("unit 1 failed on every try: the worker died "
                              "(2 of 8 runs stored and kept)")


def test_a_refused_plan_writes_nothing():
    ledger = MemoryLedger()
    with pytest.raises(PlanRefused, match="runs 2 and 4 cannot be diffed") as err:
        run_experiment(ledger, Family(refuse="runs 2 and 4 cannot be diffed"), Cfg(),
                       Executor())
    assert isinstance(err.value, ConfigError)  # a user's mistake: one line, exit status 2
    assert ledger.calls == [] and ledger.rows == {}


def test_an_exception_is_left_to_the_caller_to_record():
    ledger = MemoryLedger()
    with pytest.raises(RuntimeError, match="a bug in training"):
        run_experiment(ledger, Family(), Cfg(), Executor(boom=2))
    assert ledger.rows[1]["status"] == "running"  # the caller says what it means
    assert sorted(ledger.units[1]) == [0, 1]


def test_in_memory_run_goes_through_the_runner_and_trains_the_unit_path_weights():
    cfg = from_dict({"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3},
                     "train": {"steps": 40, "seeds": 2, "batch_size": 64, "lb_coef": 0.01,
                               "eval_samples": 300},
                     "sweep": {"data.sparsity": [0.5, 0.9]}})
    r = run_in_memory(cfg)
    assert r.chosen.sum() == 2 and len(r.runs) == 4
    for p in (0, 1):  # the best seed of each point, chosen as the store chooses it
        at = [i for i, run in enumerate(r.runs) if run.point == p]
        assert r.chosen[at].tolist() == [i == at[int(np.argmin(r.eval_loss[at]))] for i in at]
    alone = [run_unit(u).tables for u in plan(cfg, 1, unit_work=1.0, device="cpu")]
    got = np.concatenate([c["weights"]["W"] for c in r.chunks])
    want = {(int(t["runs"]["point"][0]), int(t["runs"]["seed"][0])): t["weights"]["W"]
            for t in alone}
    keys = [(int(p), int(s)) for c in r.chunks
            for p, s in zip(c["runs"]["point"], c["runs"]["seed"], strict=True)]
    assert np.array_equal(got, np.concatenate([want[k] for k in keys]))
