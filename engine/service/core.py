"""The lab service's state and its API: one object owns the only Store of a database file.

Every request of the socket API lands in `LabService.handle(op, args)`. Queue transitions
(claim the next experiment, cancel, finish) happen under one lock so a cancel can never
race the scheduler into running a cancelled experiment.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import os
import threading
import time
from pathlib import Path

from moelab.db import QueryRefused, Store, StoreError, run_read_query
from moelab.db import reads as db_reads
from moelab.db import reads_service as queue_reads

from ..client import ClientError
from ..config import ConfigError
from .configs import config_from_stored, submitted_config
from .events import EventHub
from .owners import foreground_alive, foreground_owner
from .paths import ServicePaths
from .results import load_result, summary_line
from .scheduler import Job, Scheduler

log = logging.getLogger("moelab.service")

FINISHED = ("done", "failed", "cancelled")
CANCEL_WAIT = 15.0  # seconds cancel() waits for a running experiment to stop


class LabService:
    def __init__(self, store: Store, paths: ServicePaths):
        self.store = store
        self.paths = paths
        self.hub = EventHub()
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.started_at = dt.datetime.now(dt.UTC)
        self.scheduler = Scheduler(self)
        self.ops = {"ping": self.ping, "status": self.status, "submit": self.submit,
                    "cancel": self.cancel, "sql": self.sql, "read": self.read,
                    "adopt": self.adopt, "stop": self.stop}

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, op: str, args: dict) -> dict:
        fn = self.ops.get(op)
        if fn is None:
            return _error(f"unknown op {op!r}; the service knows: {', '.join(self.ops)}, events")
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as err:
            return _error(f"bad arguments for {op}: {err}")
        try:
            return {"ok": True, "result": fn(**args)}
        except (ClientError, StoreError, ConfigError) as err:
            return _error(str(err))
        except Exception as err:  # a bug: keep serving, say where the traceback is
            log.exception("op %s failed", op)
            return _error(f"internal error in the lab service ({type(err).__name__}: "
                          f"{_one_line(str(err))}); details in {self.paths.log}")

    # -- start-up ----------------------------------------------------------------------------
    def recover(self) -> None:
        """Experiments left 'running' by a dead service (or dead foreground run) are marked
        interrupted; the queue runs them again. Their half-made result files go."""
        keep: set[int] = set()
        for row in queue_reads.running(self.store):
            eid = row["experiment_id"]
            if foreground_alive(row["message"]):
                keep.add(eid)
                continue
            self._set(eid, "interrupted", f"its trainer stopped while it ran "
                      f"(found at service start {_now()}); it runs again")
            log.info("experiment %s was interrupted; requeued", eid)
        for path in self.paths.stale_results():
            if not any(path.name.startswith(f"{self.paths.db.name}.exp{e}.") for e in keep):
                path.unlink(missing_ok=True)

    def check_foreground(self) -> None:
        """A foreground run whose process died is interrupted like any other."""
        for row in queue_reads.running(self.store):
            owner = foreground_owner(row["message"])
            if owner and not foreground_alive(row["message"]):
                self._set(row["experiment_id"], "interrupted", "its foreground "
                          f"`moelab run` (pid {owner[0]}) ended before storing; it runs again")
                self.wake.set()

    # -- the API -----------------------------------------------------------------------------
    def ping(self) -> dict:
        return {"pid": os.getpid(), "db": str(self.paths.db)}

    def status(self) -> dict:
        return {
            "service": {"pid": os.getpid(), "socket": str(self.paths.socket),
                        "db": str(self.paths.db), "log": str(self.paths.log),
                        "started_at": self.started_at.replace(tzinfo=None).isoformat(),
                        "uptime_seconds": round(time.time() - self.started_at.timestamp(), 1)},
            "running": self.scheduler.snapshot(),
            "queued": queue_reads.queue(self.store),
            "recent": queue_reads.recent(self.store),
            "foreground": [r for r in queue_reads.running(self.store)
                           if foreground_owner(r["message"])],
            "counts": queue_reads.counts(self.store),
        }

    def submit(self, config: dict | None = None, preset: str | None = None, quick: bool = False,
               name: str | None = None) -> int:
        cfg = submitted_config(config, preset, bool(quick), name)
        with self.lock:
            eid = self.store.create_experiment(cfg.name, preset, cfg.to_json(),
                                               status="queued", quick=bool(quick))
        log.info("queued experiment %s (%s)", eid, cfg.name)
        self.publish_status(eid, "queued")
        self.wake.set()
        return eid

    def cancel(self, experiment_id: int) -> str:
        eid = _experiment_id(experiment_id)
        with self.lock:
            row = self.store.experiment(eid)
            if row is None:
                raise ClientError(f"no experiment with id {eid}; `moelab status` lists the queue")
            status = row["status"]
            if status in FINISHED:
                raise ClientError(f"experiment {eid} already finished ({status}); only queued "
                                  "or running experiments can be cancelled")
            if status in ("queued", "interrupted"):
                self._set(eid, "cancelled", "cancelled before it ran")
                self.publish_status(eid, "cancelled")
                return "cancelled"
            job = self.scheduler.job
            if job is None or job.experiment_id != eid:
                if foreground_alive(row["message"]):
                    pid = foreground_owner(row["message"])[0]
                    raise ClientError(f"experiment {eid} trains in a foreground `moelab run` "
                                      f"(pid {pid}); stop it with Ctrl-C in its terminal")
                self._set(eid, "cancelled", "cancelled; its trainer had already stopped")
                self.publish_status(eid, "cancelled")
                return "cancelled"
            job.request_stop("user")
        job.finished.wait(CANCEL_WAIT)
        row = self.store.experiment(eid)
        return row["status"] if row and row["status"] != "running" else "cancelling"

    def sql(self, query: str, limit: int | None = None) -> dict:
        if not isinstance(query, str):
            raise QueryRefused("the query must be text")
        names, rows = run_read_query(self.store, query,
                                     limit=None if limit is None else int(limit))
        return {"columns": names, "rows": [[db_reads.plain(v) for v in r] for r in rows]}

    def read(self, name: str, params: dict | None = None) -> object:
        if not isinstance(params, (dict, type(None))):
            raise ClientError("read params must be an object")
        return db_reads.read(self.store, str(name), **(params or {}))

    def adopt(self, experiment_id: int, status: str = "done", message: str | None = None) -> str:
        """The end of a foreground run that found the file held by this service: store the
        result it left beside the database (done), or record why it ended (failed,
        cancelled)."""
        eid = _experiment_id(experiment_id)
        if status not in FINISHED:
            raise ClientError(f"adopt takes status done, failed or cancelled, not {status!r}")
        with self.lock:
            row = self.store.experiment(eid)
            if row is None or row["status"] != "running" or not foreground_owner(row["message"]):
                raise ClientError(f"experiment {eid} is not a foreground run waiting to end")
            if status == "done":
                path = self.paths.result_file(eid)
                if not path.exists():
                    raise ClientError(f"no result file {path} for experiment {eid}")
                message = self.store_result(eid, path)
            else:
                self._set(eid, status, _one_line(message or status))
        self.publish_status(eid, status)
        return message

    def stop(self) -> str:
        log.info("stop requested")
        self.stopping.set()
        self.wake.set()
        with self.lock:
            if self.scheduler.job is not None:
                self.scheduler.job.request_stop("stop")
        return "stopping"

    # -- used by the scheduler ---------------------------------------------------------------
    def claim_next(self) -> Job | None:
        """Mark the oldest waiting experiment running and hand it to the scheduler."""
        with self.lock:
            if self.stopping.is_set():
                return None
            row = queue_reads.next_waiting(self.store)
            if row is None:
                return None
            eid = row["experiment_id"]
            try:
                cfg = config_from_stored(row["config"])
                from ..sweep import expand
                n_models = len(expand(cfg))
            except (ConfigError, ValueError) as err:
                self._set(eid, "failed", f"its stored config is no longer valid: {err}")
                self.publish_status(eid, "failed")
                return self.claim_next()
            again = "running again after an interruption" if row["status"] == "interrupted" \
                else None
            self._set(eid, "running", again, progress=0.0)
            job = Job(eid, row["name"], n_models, row["config"])
            self.scheduler.job = job
        self.publish_status(eid, "running")
        log.info("running experiment %s (%s, %d models)", eid, row["name"], n_models)
        return job

    def store_result(self, eid: int, path: Path) -> str:
        try:
            chunks, summary = load_result(path)
            self.store.write_runs(eid, chunks)
            line = summary_line(summary)
            self._set(eid, "done", line, device=summary["device"], progress=1.0)
            return line
        finally:
            path.unlink(missing_ok=True)

    def finish(self, job: Job, status: str, message: str) -> None:
        with self.lock:
            self._set(job.experiment_id, status, message)
            self.scheduler.job = None
        log.info("experiment %s %s: %s", job.experiment_id, status, message)
        self.publish_status(job.experiment_id, status)

    def save_progress(self, job: Job, fraction: float, device: str | None) -> None:
        with self.lock:
            if self.scheduler.job is job:
                self.store.set_experiment_status(job.experiment_id, "running", device=device,
                                                 progress=fraction)

    def publish_status(self, eid: int, status: str) -> None:
        self.hub.publish({"type": "status", "experiment_id": eid, "status": status})

    def _set(self, eid: int, status: str, message: str | None, **kw) -> None:
        self.store.set_experiment_status(eid, status, message=message, **kw)


def _experiment_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ClientError(f"an experiment id is a whole number, not {value!r}") from None


def _error(message: str) -> dict:
    return {"ok": False, "error": _one_line(message)}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
