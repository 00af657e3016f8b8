"""The queue loop: one experiment at a time, trained as work units by the service's executor.

The scheduler thread claims the oldest waiting experiment and runs it with the runner
(engine/runner.py) over the service's Ledger (ledger.py): the runner plans its units, trains
those not yet stored on the executor (a local worker process, or a Dask cluster), stores each
finished unit at once and records how the experiment ended. The scheduler relays the runner's
events to the event hub and keeps the Job (progress and ETA) that status() shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..client import ClientError
from ..config import ConfigError
from ..executors.base import UnitProgress
from ..lifecycle import Status
from ..runner import Planned, PlanRefused, UnitStored, run_experiment
from .ledger import ServiceLedger

if TYPE_CHECKING:
    from .core import LabService

log = logging.getLogger("moelab.service")

ETA_WINDOW = 30.0  # seconds of progress the ETA's rate is measured over, at least
FOREGROUND_CHECK_EVERY = 10.0


@dataclass
class Job:
    experiment_id: int
    name: str
    config: str
    n_models: int = 0
    n_units: int = 0
    units_stored: int = 0
    runs_stored: int = 0
    work_total: int = 0
    work_stored: int = 0
    inflight: dict = field(default_factory=dict)  # unit index -> (instance-steps done, event)
    device: str | None = None
    notice: str | None = None  # something the user must act on (a full disk)
    stop_reason: str | None = None  # "user" (cancel) or "stop" (service shutdown)
    started: float = field(default_factory=time.monotonic)
    samples: deque = field(default_factory=deque)  # (time, work_done), one a second at most
    first_progress: float | None = None  # when the first progress came (start-up excluded)
    finished: threading.Event = field(default_factory=threading.Event)

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def stopping(self) -> bool:
        return self.stop_reason is not None

    @property
    def work_done(self) -> int:
        return self.work_stored + sum(w for w, _ in self.inflight.values())

    def running(self) -> dict:
        """The fields of status()["running"] and of progress events."""
        last = max(self.inflight.values(), key=lambda v: v[1].unit, default=(0, None))[1]
        return {"experiment_id": self.experiment_id, "name": self.name,
                "step": last.step if last else 0, "steps": last.steps if last else 0,
                "batch": min(self.units_stored + 1, self.n_units), "n_batches": self.n_units,
                "units_stored": self.units_stored, "n_units": self.n_units,
                "models_done": self.runs_stored, "runs_stored": self.runs_stored,
                "n_models": self.n_models,
                "work_done": self.work_done, "work_total": self.work_total,
                "loss": last.loss if last else None, "device": self.device,
                "eta_seconds": self.eta_seconds(),
                "elapsed_seconds": round(time.monotonic() - self.started, 1),
                "stopping": self.stop_reason is not None, "notice": self.notice}

    def planned(self, plan: Planned) -> None:
        self.n_models, self.n_units = plan.n_runs, len(plan.units)
        self.units_stored, self.runs_stored = len(plan.stored), plan.runs_stored
        self.work_total, self.work_stored = plan.work_total, plan.work_stored

    def record(self, ev: UnitProgress) -> None:
        self.inflight[ev.unit] = (ev.step * ev.n_models, ev)
        self.device = ev.device
        self._sample()

    def stored(self, unit, n_runs: int) -> None:
        self.inflight.pop(unit.index, None)
        self.units_stored += 1
        self.runs_stored += n_runs
        self.work_stored += unit.work
        self._sample()

    def _sample(self) -> None:
        now = time.monotonic()
        if self.samples and now - self.samples[-1][0] < 1.0:
            self.samples[-1] = (self.samples[-1][0], self.work_done)
        else:
            self.samples.append((now, self.work_done))
        if self.first_progress is None:
            self.first_progress = now
        window = max(ETA_WINDOW, (now - self.first_progress) / 2)
        while len(self.samples) > 2 and now - self.samples[1][0] > window:
            self.samples.popleft()

    def eta_seconds(self) -> float | None:
        # From the rate over the later half of the experiment so far (at least ETA_WINDOW
        # seconds): the worker's start-up does not count, units of bigger models, which cost
        # more per instance-step, set the pace, and one slow unit start late in a long
        # experiment no longer makes the ETA jump up while progress rises (issue 20).
        if not self.samples:
            return None
        t0, w0 = self.samples[0]
        dt, dw = time.monotonic() - t0, self.work_done - w0
        if dt < 0.5 or dw <= 0:
            return None
        return round(max(self.work_total - self.work_done, 0) * dt / dw, 1)


class Scheduler(threading.Thread):
    def __init__(self, service: LabService):
        super().__init__(name="scheduler", daemon=True)
        self.service = service
        self.job: Job | None = None  # read and replaced under service.lock

    def snapshot(self) -> dict | None:
        job = self.job
        if job is None or job.finished.is_set() or (job.n_units
                                                    and job.units_stored >= job.n_units):
            return None  # every unit is stored: the store says done, so nothing runs
        return self.running(job)

    def running(self, job: Job) -> dict:
        return {**job.running(), "executor": self.service.executor.name,
                "worker_pid": getattr(self.service.executor, "worker_pid", None)}

    def run(self) -> None:
        svc = self.service
        last_check = 0.0
        while not svc.stopping.is_set():
            try:
                if time.monotonic() - last_check > FOREGROUND_CHECK_EVERY:
                    last_check = time.monotonic()
                    svc.check_foreground()
                job = svc.claim_next()
                if job is None:
                    svc.wake.wait(2.0)
                    svc.wake.clear()
                    continue
                self.run_job(job)
            except Exception:  # keep the queue alive; the log has the details
                log.exception("scheduler error")
                time.sleep(2.0)

    def run_job(self, job: Job) -> None:
        svc = self.service
        recorded = False
        try:
            fam, cfg = _stored_config(job.config)
            end = run_experiment(ServiceLedger(svc, job), fam, cfg, svc.executor,
                                 lambda ev: self._on_event(job, ev), lambda: job.stop_reason,
                                 experiment_id=job.experiment_id)
            status, message, recorded = end.status, end.message, True
        except PlanRefused as err:
            status = Status.FAILED
            message = f"its stored config is no longer valid: {err}{self._kept(job)}"
        except ClientError as err:  # said in plain words: no traceback needed
            status, message = Status.FAILED, str(err) + self._kept(job)
        except Exception as err:
            log.exception("experiment %s", job.experiment_id)
            status, message = Status.FAILED, f"the service failed to run it: {err}"
            message += self._kept(job)
        try:
            svc.finish(job, status, message, recorded)
        finally:
            job.finished.set()

    def _on_event(self, job: Job, ev) -> None:
        svc = self.service
        if isinstance(ev, Planned):
            job.planned(ev)
            if ev.stored:
                log.info("experiment %s resumes: %d of %d units stored", job.experiment_id,
                         len(ev.stored), len(ev.units))
        elif isinstance(ev, UnitProgress):
            job.record(ev)
            svc.hub.publish({"type": "progress", **self.running(job)})
            svc.save_progress(job)
        elif isinstance(ev, UnitStored):
            job.stored(ev.unit, ev.n_runs)
            svc.hub.publish({"type": "progress", **self.running(job)})
            svc.hub.publish({"type": "unit", "experiment_id": job.experiment_id,
                             "unit": ev.unit.index, "runs_stored": job.runs_stored,
                             "n_runs": job.n_models})
            svc.save_progress(job, force=True)

    @staticmethod
    def _kept(job: Job) -> str:
        return f" ({job.runs_stored} of {job.n_models} runs stored and kept)" \
            if job.n_models else ""


def _stored_config(text: str):
    """The family and config of a stored experiment (the family from its "family" key)."""
    from ..families import family_of
    try:
        fam = family_of(text)
        return fam, fam.config_from_stored(text)
    except (ConfigError, ValueError, TypeError) as err:
        raise ClientError(f"its stored config is no longer valid: {err}") from None
