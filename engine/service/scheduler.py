"""The queue loop: one experiment at a time, each in a fresh spawned worker process.

The scheduler thread claims the oldest waiting experiment, starts a worker, relays its
progress to the event hub, and records how it ended: done (results stored in one
transaction), failed (the worker's exception, or how it died), cancelled (by a user), or
interrupted (the service is stopping; it runs again at the next start).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import LabService

log = logging.getLogger("moelab.service")

CANCEL_GRACE = 20.0  # seconds a worker gets to stop at its next step before it is killed
SAVE_PROGRESS_EVERY = 5.0  # seconds between progress writes to experiments.progress
FOREGROUND_CHECK_EVERY = 10.0
ETA_WINDOW = 30.0  # seconds of progress the ETA's rate is measured over


@dataclass
class Job:
    experiment_id: int
    name: str
    n_models: int
    config: str
    stop_reason: str | None = None  # "user" (cancel) or "stop" (service shutdown)
    stop_at: float = 0.0
    cancel: object = None  # the worker's multiprocessing Event, once started
    pid: int | None = None
    started: float = field(default_factory=time.monotonic)
    samples: deque = field(default_factory=deque)  # (time, work_done) of recent progress
    progress: dict | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason, self.stop_at = reason, time.monotonic()
        if self.cancel is not None:
            self.cancel.set()

    def running(self) -> dict:
        """The fields of status()["running"] and of progress events."""
        p = self.progress or {}
        return {"experiment_id": self.experiment_id, "name": self.name,
                "step": p.get("step", 0), "steps": p.get("steps", 0),
                "batch": p.get("batch", 0), "n_batches": p.get("n_batches", 0),
                "models_done": p.get("models_done", 0), "n_models": self.n_models,
                "work_done": p.get("work_done", 0), "work_total": p.get("work_total", 0),
                "loss": p.get("loss"), "device": p.get("device"),
                "eta_seconds": self.eta_seconds(),
                "elapsed_seconds": round(time.monotonic() - self.started, 1),
                "worker_pid": self.pid, "stopping": self.stop_reason is not None}

    def record(self, p: dict) -> None:
        now = time.monotonic()
        self.progress = p
        self.samples.append((now, p["work_done"]))
        while len(self.samples) > 2 and now - self.samples[1][0] > ETA_WINDOW:
            self.samples.popleft()

    def eta_seconds(self) -> float | None:
        # From the rate over the last ETA_WINDOW seconds of progress reports: the worker's
        # start-up (importing torch) does not count, and batches of bigger models, which
        # cost more per instance-step, soon set the pace.
        p = self.progress
        if not p or not self.samples:
            return None
        t0, w0 = self.samples[0]
        dt, dw = time.monotonic() - t0, p["work_done"] - w0
        if dt < 0.5 or dw <= 0:
            return None
        return round(max(p["work_total"] - p["work_done"], 0) * dt / dw, 1)


class Scheduler(threading.Thread):
    def __init__(self, service: LabService):
        super().__init__(name="scheduler", daemon=True)
        self.service = service
        self.job: Job | None = None  # read and replaced under service.lock
        self._ctx = multiprocessing.get_context("spawn")

    def snapshot(self) -> dict | None:
        job = self.job
        return job.running() if job is not None else None

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
        from .worker import work
        svc = self.service
        path = svc.paths.result_file(job.experiment_id)
        path.unlink(missing_ok=True)
        out = self._ctx.Queue()
        job.cancel = self._ctx.Event()
        if job.stop_reason is not None:
            job.cancel.set()
        proc = self._ctx.Process(target=work, name=f"moelab-worker-{job.experiment_id}",
                                 args=(job.experiment_id, job.config, out, job.cancel, str(path)),
                                 daemon=True)
        try:
            proc.start()
            job.pid = proc.pid
            outcome = self._supervise(job, proc, out)
            proc.join(10.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
            status, message = self._conclude(job, outcome, path)
        except Exception as err:
            log.exception("experiment %s", job.experiment_id)
            status, message = "failed", f"the service failed to run it: {err}"
            if proc.is_alive():
                proc.kill()
        finally:
            out.close()
        try:
            svc.finish(job, status, message)
        finally:
            job.finished.set()

    def _supervise(self, job: Job, proc, out) -> tuple:
        last_save = 0.0
        while True:
            try:
                msg = out.get(timeout=0.2)
            except queue.Empty:
                if job.stop_reason and time.monotonic() - job.stop_at > CANCEL_GRACE:
                    proc.kill()
                    return ("cancelled",)
                if proc.is_alive():
                    continue
                try:  # its last words may still be in the pipe
                    msg = out.get(timeout=1.0)
                except queue.Empty:
                    return ("died", proc.exitcode)
            if msg[0] != "progress":
                return msg
            p = msg[1]
            now = time.monotonic()
            job.record(p)
            self.service.hub.publish({"type": "progress", **job.running()})
            if now - last_save > SAVE_PROGRESS_EVERY:
                last_save = now
                self.service.save_progress(job, p["work_done"] / max(p["work_total"], 1),
                                           p["device"])

    def _conclude(self, job: Job, outcome: tuple, path) -> tuple[str, str]:
        kind = outcome[0]
        if kind == "done":
            try:
                return "done", self.service.store_result(job.experiment_id, path)
            except Exception as err:
                log.exception("storing experiment %s", job.experiment_id)
                return "failed", f"storing its results failed: {err}"
        if job.stop_reason == "stop" and kind in ("cancelled", "died"):
            return "interrupted", ("the lab service was stopped while it ran; it runs again "
                                   "at the next start")
        if job.stop_reason == "user" and kind in ("cancelled", "died"):
            return "cancelled", f"cancelled while it ran ({self._where(job)})"
        if kind == "error":
            return "failed", outcome[1]
        return "failed", died_message(outcome[1], self.service.paths.log)

    @staticmethod
    def _where(job: Job) -> str:
        p = job.progress
        if not p:
            return "before its first step"
        return (f"batch {p['batch']}/{p['n_batches']}, step {p['step']}/{p['steps']}, "
                f"{p['models_done']} of {job.n_models} models done")


def died_message(exitcode: int | None, log_path) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = " (out of memory? the kernel's OOM killer sends SIGKILL)" \
            if name == "SIGKILL" else ""
        return f"the training worker was killed by {name}{why}; see {log_path}"
    return f"the training worker exited with status {exitcode} without a result; see {log_path}"
