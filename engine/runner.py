"""An experiment's life, written once: plan its units, record the plan, train the units not
stored yet on an executor, store each one as it finishes, and record how it ended.

The lab service (service/scheduler.py) and a foreground `moelab run` or `moelab crosscode`
(moelab/foreground.py) both call run_experiment. They differ only in their Ledger (the
service's Store under its lock, service/ledger.py; or the file opened for each write,
moelab/file_ledger.py), their executor, and what they show of the events.

Endings the executor reports (done, a unit failed on every try, cancelled, stopped) are
recorded here. An exception (a bug, Ctrl-C, a full disk, the file taken by a service)
propagates unrecorded: what it means differs between the service and a terminal, so the
caller records it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .config_checks import ConfigError
from .executors.base import Executor, UnitDone, UnitFailed
from .lifecycle import Status, ended
from .plan import Unit, unit_work_default
from .unit import UnitResult


class Ledger(Protocol):
    """Where an experiment's life is recorded (engine/ledger.py: StoreLedger over a Store)."""

    def create(self, name: str, config: str, device: str | None) -> int:
        """Register a new experiment, running and owned by the caller; its id."""

    def reading(self) -> AbstractContextManager[Any]:
        """The store a family's plan reads (a crosscoder's source runs), open meanwhile."""

    def unit_work(self, experiment_id: int) -> float | None:
        """The unit size the experiment was first planned with (None before its first run)."""

    def set_plan(self, experiment_id: int, n_runs: int, n_units: int, unit_work: float) -> None:
        ...

    def stored_units(self, experiment_id: int) -> set[int]: ...

    def write_unit(self, experiment_id: int, unit: Unit, result: UnitResult) -> int:
        """Store one finished unit (the last one marks the experiment done in the same
        transaction); the number of runs written, 0 when it was stored already."""

    def experiment(self, experiment_id: int) -> dict | None: ...

    def set_status(self, experiment_id: int, status: str, message: str) -> None: ...


class PlanRefused(ConfigError):
    """The family could not plan the config (a crosscoder's runs cannot be diffed, say)."""


@dataclass
class Planned:
    """The first event: the experiment's units, and those stored before (a resume)."""
    experiment_id: int
    units: list[Unit]
    stored: set[int]

    @property
    def n_runs(self) -> int:
        return sum(u.n_runs for u in self.units)

    @property
    def runs_stored(self) -> int:
        return sum(u.n_runs for u in self.units if u.index in self.stored)

    @property
    def work_total(self) -> int:
        return sum(u.work for u in self.units)

    @property
    def work_stored(self) -> int:
        return sum(u.work for u in self.units if u.index in self.stored)


@dataclass
class UnitStored:
    """A finished unit is in the ledger (n_runs 0: it had been stored before)."""
    unit: Unit
    n_runs: int


@dataclass
class Ended:
    experiment_id: int
    status: Status
    message: str


def run_experiment(ledger: Ledger, family, cfg, executor: Executor,
                   on_event: Callable[[object], None] | None = None,
                   cancel: Callable[[], object] | None = None, *,
                   experiment_id: int | None = None, device: str | None = None) -> Ended:
    """Train the experiment of `cfg` (a config of `family`, a module of engine/families/).

    experiment_id: an experiment the ledger holds already (the service's queue), resumed
    with the units not stored yet; None registers a new one through ledger.create once the
    plan is made (a plan refused writes nothing). on_event gets Planned, then the executor's
    UnitProgress and UnitFailed, and a UnitStored after each unit is stored. cancel() turns
    truthy to stop: "stop" interrupts the experiment (it resumes later), anything else
    cancels it. Returns how the experiment ended, as recorded."""
    on_event = on_event or (lambda ev: None)
    cancel = cancel or (lambda: False)
    eid = experiment_id
    work = (ledger.unit_work(eid) if eid is not None else None) or unit_work_default()
    with ledger.reading() as store:
        try:
            units = family.plan(cfg, eid or 0, unit_work=work, device=device, store=store)
        except (ConfigError, ValueError, TypeError) as err:
            raise PlanRefused([str(err)]) from err
        except Exception as err:  # a store error while reading what the plan needs
            from moelab.db.errors import StoreError
            if not isinstance(err, StoreError):
                raise
            raise PlanRefused([str(err)]) from err
    if eid is None:
        eid = ledger.create(cfg.name, cfg.to_json(), device)
        units = [replace(u, experiment_id=eid) for u in units]
    plan = Planned(eid, units, set())
    ledger.set_plan(eid, plan.n_runs, len(units), work)
    plan.stored = ledger.stored_units(eid)
    on_event(plan)
    tally = {"runs": plan.runs_stored, "failure": None}

    def relay(ev) -> None:
        if isinstance(ev, UnitDone):
            n = ledger.write_unit(eid, ev.unit, ev.result)
            tally["runs"] += n
            on_event(UnitStored(ev.unit, n))
            return
        if isinstance(ev, UnitFailed):
            tally["failure"] = f"unit {ev.unit.index} failed on every try: {ev.reason}"
        on_event(ev)

    todo = [u for u in units if u.index not in plan.stored]
    outcome = executor.run(todo, relay, lambda: bool(cancel()))
    kept = f" ({tally['runs']} of {plan.n_runs} runs stored and kept)" if plan.n_runs else ""
    return _conclude(ledger, eid, outcome, cancel() or None, tally["failure"], kept)


def _conclude(ledger: Ledger, eid: int, outcome: str, stop_reason, failure: str | None,
              kept: str) -> Ended:
    row = ledger.experiment(eid) or {}
    if row.get("status") == Status.DONE:  # set with the last unit's runs, in one transaction
        return Ended(eid, Status.DONE, row.get("message") or "")
    status = ended(outcome, stop_reason)
    if status == Status.DONE:
        status, message = Status.FAILED, "every unit trained but the experiment was not complete"
    elif status == Status.INTERRUPTED:
        message = "the lab service was stopped while it ran; it resumes at the next start" + kept
    elif status == Status.CANCELLED:
        message = f"cancelled while it ran{kept}"
    else:
        message = (failure or "training failed") + kept
    ledger.set_status(eid, status, message)
    return Ended(eid, status, message)
