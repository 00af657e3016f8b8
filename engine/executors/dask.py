"""Train units as tasks on a Dask cluster (`moelab engine start --executor URL`).

Each unit is one task: the worker trains it with the numba CPU kernels on as many threads
as the Dask worker has, or with the CUDA trainer where the worker has a GPU (declared as
the Dask resource GPU; units asking for device cuda need one). A task takes the unit as
JSON and returns the UnitResult as bytes; only the lab service writes the database. Dask
reruns the tasks of a worker that dies; a unit whose task raises is resubmitted up to
MAX_TRIES. At most a few units per worker are in flight, so the service holds little.
Needs the extra: pip install 'moelab[dask]'.
"""

from __future__ import annotations

import logging
import queue
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from ..plan import Unit
from ..unit import UnitResult
from .base import MAX_TRIES, Event, Outcome, UnitDone, UnitFailed, UnitProgress
from .dask_task import PROGRESS_TOPIC
from .urls import ExecutorError, ExecutorSpec, dask_alias, parse_executor

log = logging.getLogger("moelab.service")

CONNECT_TIMEOUT = 10.0


class DaskError(ExecutorError):
    """The cluster cannot be used; one line for the user."""


class DaskExecutor:
    def __init__(self, spec: ExecutorSpec | str):
        try:
            from distributed import Client
        except ImportError:
            raise DaskError("Dask is not installed; install the extra: "
                            ".venv/bin/pip install -e '.[dask]'") from None
        if isinstance(spec, str):  # an address or local:N, as benchmarks pass it
            spec = parse_executor(dask_alias(spec))
        self.cluster = None
        self.name = spec.name
        try:
            if spec.kind == "dask-local":
                self.cluster = _private_cluster(spec.workers)
                self.client = Client(self.cluster, timeout=CONNECT_TIMEOUT)
            else:
                if spec.address.startswith("tcp://"):
                    log.warning("%s is plain TCP: whoever reaches it can run code as its "
                                "workers' user; secure it with TLS (docs/cluster.md)",
                                spec.address)
                self.client = Client(spec.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise DaskError(f"no Dask scheduler answers at {spec.address or spec.name} "
                            f"({_short(err)}); start one with `dask scheduler`, or use "
                            "--executor dask+local:N") from None
        except (TypeError, ValueError, ImportError) as err:  # TLS asked for, not set up
            if spec.kind != "dask":
                raise
            raise DaskError(f"cannot connect to {spec.address} ({_short(err)}); a tls:// "
                            "scheduler needs the client's certificate in Dask's config: "
                            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT and "
                            "..._CLIENT__KEY (docs/cluster.md)") from None
        try:
            self._check_versions()
        except DaskError:
            self.close()
            raise
        self._progress: queue.Queue = queue.Queue()
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_topic)

    def _check_versions(self) -> None:
        from .dask_task import moelab_version
        mine = moelab_version()
        theirs = self.client.run(moelab_version)
        wrong = {w: v for w, v in theirs.items() if v != mine}
        if wrong:
            worker, version = next(iter(wrong.items()))
            raise DaskError(f"Dask worker {worker} runs moelab {version}, this service "
                            f"{mine}; install the same moelab on every worker")

    def _on_topic(self, event) -> None:
        _, payload = event
        self._progress.put(payload)

    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, units: Sequence[Unit], on_event: Callable[[Event], None],
            cancel: Callable[[], bool]) -> Outcome:
        from distributed import wait

        from .dask_task import train_unit
        # Largest first: units are planned to about equal work, but each shape batch ends
        # in a smaller one; run last, those fill the tail while the other workers finish.
        pending = deque(sorted(units, key=lambda u: -u.work))
        inflight: dict = {}  # future -> unit
        tries: dict[int, int] = {}
        eid = units[0].experiment_id if units else None
        if eid is not None:  # a resumed experiment must not see the last stop's cancel
            self._cancel_event(eid).clear()

        def submit(unit: Unit) -> None:
            extra = {"resources": {"GPU": 1}} if unit.device == "cuda" else {}
            key = f"moelab-e{unit.experiment_id}-u{unit.index}-{uuid.uuid4().hex[:8]}"
            inflight[self.client.submit(train_unit, unit.to_json(), key=key, pure=False,
                                        **extra)] = unit
        try:
            while pending or inflight:
                if cancel():
                    self._cancel(units, inflight)
                    return "cancelled"
                while pending and len(inflight) < 2 * self.n_workers():
                    submit(pending.popleft())
                self._drain_progress(on_event, eid, {u.index for u in inflight.values()})
                try:
                    done, _ = wait(list(inflight), timeout=0.5, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for fut in done:
                    unit = inflight.pop(fut)
                    if fut.status == "finished":
                        data = fut.result()
                        fut.release()
                        on_event(UnitDone(unit, UnitResult.from_bytes(data)))
                        continue
                    reason = _short(fut.exception()) if fut.status == "error" else fut.status
                    fut.release()
                    tries[unit.index] = tries.get(unit.index, 0) + 1
                    log.warning("unit %s of experiment %s failed on Dask: %s (try %d of %d)",
                                unit.index, unit.experiment_id, reason, tries[unit.index],
                                MAX_TRIES)
                    if tries[unit.index] >= MAX_TRIES:
                        self.client.cancel(list(inflight), force=True)
                        on_event(UnitFailed(unit, reason))
                        return "failed"
                    pending.appendleft(unit)
            return "done"
        finally:
            inflight.clear()

    def _cancel_event(self, experiment_id: int):
        from distributed import Event

        from .dask_task import cancel_event_name
        return Event(cancel_event_name(experiment_id), client=self.client)

    def _cancel(self, units: Sequence[Unit], inflight: dict) -> None:
        if units:  # running tasks see it at their next step; queued ones are dropped
            self._cancel_event(units[0].experiment_id).set()
        self.client.cancel(list(inflight), force=True)

    def _drain_progress(self, on_event, eid: int | None, running: set[int]) -> None:
        while True:
            try:
                p = self._progress.get_nowait()
            except queue.Empty:
                return
            if p.get("experiment_id") == eid and p.get("unit") in running:
                on_event(UnitProgress(p["unit"], p["step"], p["steps"], p["n_models"],
                                      p["loss"], p["device"]))  # not a cancelled task's

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _private_cluster(n: int):
    """A LocalCluster only its owner can use: every connection (scheduler, nannies,
    workers, client) is TLS with a certificate made now and held in memory, so another user
    who finds the port (the log, /proc/net/tcp) cannot connect, let alone submit code; and
    no dashboard or other HTTP pages (Dask serves them on :8787 even with
    dashboard_address=None), only an empty HTTP server on a random loopback port."""
    import dask
    from distributed import LocalCluster
    from distributed.security import Security
    try:
        security = Security.temporary()
    except ImportError:
        raise DaskError("a local Dask cluster needs the package cryptography (its TLS "
                        "certificate); install the extra: .venv/bin/pip install -e "
                        "'.[dask]'") from None
    # The nannies copy this config into their workers when they are made, below.
    with dask.config.set({"distributed.scheduler.http.routes": [],
                          "distributed.worker.http.routes": []}):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address="127.0.0.1:0",
                            worker_dashboard_address=None, security=security,
                            scheduler_kwargs={"dashboard": False})


def _short(err: BaseException | None) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())[:300] if err else "unknown error"
