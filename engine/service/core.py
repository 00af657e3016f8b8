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

from moelab.db import QueryRefused, Store, StoreError, run_read_query
from moelab.db import reads as db_reads
from moelab.db.reads import service as queue_reads

from ..client import ClientError
from ..config import ConfigError
from ..lifecycle import FINISHED, WAITING, Status, check
from .configs import submitted_config
from .events import EventHub
from .owners import foreground_alive, foreground_owner, service_mark
from .paths import ServicePaths
from .querylog import QueryRecord
from .scheduler import Job, Scheduler

log = logging.getLogger("moelab.service")

CANCEL_WAIT = 15.0  # seconds cancel() waits for a running experiment to stop
SAVE_PROGRESS_EVERY = 5.0  # seconds between progress writes to experiments.progress


class LabService:
    def __init__(self, store: Store, paths: ServicePaths, executor=None):
        from ..executors.local import LocalExecutor
        self.store = store
        self.paths = paths
        self.executor = executor or LocalExecutor(str(paths.log))
        self.hub = EventHub()
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.started_at = dt.datetime.now(dt.UTC)
        self.scheduler = Scheduler(self)
        self._saved_at = 0.0
        self.queries = QueryRecord(paths.db)  # says which query a dead service was running
        self.ops = {"ping": self.ping, "status": self.status, "submit": self.submit,
                    "cancel": self.cancel, "sql": self.sql, "read": self.read,
                    "adopt": self.adopt, "stop": self.stop}
        from .metric_ops import metric_ops
        self.ops.update(metric_ops(self))  # `moelab metric`: registry and values
        from .import_ops import import_ops
        self.ops.update(import_ops(self))  # `moelab import npz` while the service runs

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
        interrupted; the queue resumes them with the units not yet stored."""
        for row in queue_reads.running(self.store):
            eid = row["experiment_id"]
            if foreground_alive(row["owner"]):
                continue
            self._set(eid, Status.INTERRUPTED, f"its trainer stopped while it ran "
                      f"(found at service start {_now()}); it resumes")
            log.info("experiment %s was interrupted; requeued", eid)

    def check_foreground(self) -> None:
        """A foreground run whose process died is interrupted like any other."""
        for row in queue_reads.running(self.store):
            owner = foreground_owner(row["owner"])
            if owner and not foreground_alive(row["owner"]):
                self._set(row["experiment_id"], Status.INTERRUPTED, "its foreground "
                          f"`moelab run` (pid {owner[0]}) ended before it finished; it resumes")
                self.wake.set()

    # -- the API -----------------------------------------------------------------------------
    def ping(self) -> dict:
        return {"pid": os.getpid(), "db": str(self.paths.db)}

    def status(self) -> dict:
        return {
            "service": {"pid": os.getpid(), "socket": str(self.paths.socket),
                        "db": str(self.paths.db), "log": str(self.paths.log),
                        "started_at": self.started_at.replace(tzinfo=None).isoformat(),
                        "uptime_seconds": round(time.time() - self.started_at.timestamp(), 1),
                        "executor": self.executor.name},
            "running": self.scheduler.snapshot(),
            "queued": queue_reads.queue(self.store),
            "recent": queue_reads.recent(self.store),
            "foreground": [r for r in queue_reads.running(self.store)
                           if foreground_owner(r["owner"])],
            "counts": queue_reads.counts(self.store),
            "stopped_in_query": self.queries.previous,
        }

    def submit(self, config: dict | None = None, preset: str | None = None, quick: bool = False,
               name: str | None = None) -> int:
        from .metric_ops import registered
        # the registered metrics are computed for every run queued from now on
        cfg = submitted_config(config, preset, bool(quick), name, store=self.store,
                               metrics=registered(self))
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
            if status in WAITING:
                self._set(eid, Status.CANCELLED, "cancelled before it ran"
                          + _kept(row))
                self.publish_status(eid, "cancelled")
                return "cancelled"
            job = self.scheduler.job
            if job is None or job.experiment_id != eid:
                if foreground_alive(row["owner"]):
                    pid = foreground_owner(row["owner"])[0]
                    raise ClientError(f"experiment {eid} trains in a foreground `moelab run` "
                                      f"(pid {pid}); stop it with Ctrl-C in its terminal")
                self._set(eid, Status.CANCELLED, "cancelled; its trainer had already stopped"
                          + _kept(row))
                self.publish_status(eid, "cancelled")
                return "cancelled"
            job.request_stop("user")
        job.finished.wait(CANCEL_WAIT)
        row = self.store.experiment(eid)
        return row["status"] if row and row["status"] != "running" else "cancelling"

    def sql(self, query: str, limit: int | None = None, timeout: float | None = None,
            max_rows: int | None = None) -> dict:
        """A user's query on a cursor of its own (the store's lock is not held while it
        runs), under the time limit and row cap; server.py interrupts it when its client
        hangs up (db/userquery.py)."""
        if not isinstance(query, str):
            raise QueryRefused("the query must be text")
        with self.queries.running(query):
            names, rows = run_read_query(self.store, query, limit=limit, timeout=timeout,
                                         max_rows=max_rows)
        return {"columns": names, "rows": [[db_reads.plain(v) for v in r] for r in rows]}

    def read(self, name: str, params: dict | None = None) -> object:
        if not isinstance(params, (dict, type(None))):
            raise ClientError("read params must be an object")
        # sql_page, export_query (query), arrow_file (sql): the user's SQL
        query = (params or {}).get("query", (params or {}).get("sql"))
        if not isinstance(query, str):
            return db_reads.read(self.store, str(name), **(params or {}))
        with self.queries.running(query):
            return db_reads.read(self.store, str(name), **(params or {}))

    def adopt(self, experiment_id: int, status: str = "interrupted",
              message: str | None = None) -> str:
        """A foreground `moelab run` found the file held by this service: it hands its
        experiment over (interrupted: this service resumes it with the units not yet
        stored) or records why it ended (failed, cancelled)."""
        eid = _experiment_id(experiment_id)
        if status not in (Status.INTERRUPTED, Status.FAILED, Status.CANCELLED):
            raise ClientError(f"adopt takes status interrupted, failed or cancelled, "
                              f"not {status!r}")
        with self.lock:
            row = self.store.experiment(eid)
            if row is None or row["status"] != "running" or not foreground_owner(row["owner"]):
                raise ClientError(f"experiment {eid} is not a foreground run waiting to end")
            default = "handed over by its foreground run; it resumes here" \
                if status == Status.INTERRUPTED else status
            self._set(eid, status, _one_line(message or default) + _kept(row))
        self.publish_status(eid, status)
        self.wake.set()
        return status

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
        """Mark the oldest waiting experiment running and hand it to the scheduler. Its
        sweep is expanded later, outside the lock (a full fig4 takes seconds)."""
        with self.lock:
            if self.stopping.is_set():
                return None
            row = queue_reads.next_waiting(self.store)
            if row is None:
                return None
            eid = row["experiment_id"]
            again = "resuming after an interruption" if row["status"] == "interrupted" \
                else None
            self._set(eid, Status.RUNNING, again, owner=service_mark())
            job = Job(eid, row["name"], row["config"])
            self.scheduler.job = job
        self.publish_status(eid, "running")
        log.info("running experiment %s (%s)", eid, row["name"])
        return job

    def finish(self, job: Job, status: str, message: str, recorded: bool = False) -> None:
        """The job is over: record its ending unless the runner did (it records the endings
        the executor reports; an exception ends it here), and free the queue."""
        with self.lock:
            row = self.store.experiment(job.experiment_id) or {}
            if not recorded and row.get("status") == Status.RUNNING:
                self._set(job.experiment_id, status, message)
            self.scheduler.job = None
        log.info("experiment %s %s: %s", job.experiment_id, status, message)
        self.publish_status(job.experiment_id, status)

    def save_progress(self, job: Job, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_PROGRESS_EVERY:
            return
        self._saved_at = now
        with self.lock:
            if self.scheduler.job is job:
                self.store.set_progress(job.experiment_id,
                                        job.work_done / max(job.work_total, 1), job.device)

    def publish_status(self, eid: int, status: str) -> None:
        self.hub.publish({"type": "status", "experiment_id": eid, "status": status})

    def _set(self, eid: int, status: str, message: str | None, **kw) -> None:
        row = self.store.experiment(eid)
        if row is not None:
            check(row["status"], status)
        self.store.set_experiment_status(eid, str(status), message=message, **kw)


def _kept(row: dict) -> str:
    n = int(row.get("runs_stored") or 0)
    return f" ({n} of {row.get('n_runs')} runs stored and kept)" if n else ""


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
