"""The service's Ledger for the runner (engine/runner.py): its one Store, every write under
the service's lock, status changes checked by the lifecycle. A unit that meets a full disk
is held in memory and stored again every few seconds until space frees or the service
stops; meanwhile the status and a progress event say so (the file itself cannot)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from moelab.db import DiskFull

from ..ledger import StoreLedger

if TYPE_CHECKING:
    from .core import LabService
    from .scheduler import Job

log = logging.getLogger("moelab.service")

DISK_RETRY = 10.0  # seconds between tries to store a unit on a full disk


class ServiceLedger(StoreLedger):
    def __init__(self, service: LabService, job: Job):
        super().__init__(service.store, service.lock)
        self.service, self.job = service, job

    def write_unit(self, experiment_id: int, unit, result) -> int:
        svc, job = self.service, self.job
        while True:
            try:
                n = super().write_unit(experiment_id, unit, result)
                job.notice = None
                return n
            except DiskFull:
                if svc.stopping.is_set() or job.stopping():
                    raise
                job.notice = (f"no space left on the device of {svc.paths.db} (needs about "
                              f"{_result_mb(result)} MB more); trained units wait in memory "
                              "and are stored when space frees")
                log.error("%s", job.notice)
                svc.hub.publish({"type": "progress", **svc.scheduler.running(job)})
                time.sleep(DISK_RETRY)

    def set_status(self, experiment_id: int, status: str, message: str) -> None:
        with self.lock:
            self.service._set(experiment_id, status, message)


def _result_mb(result) -> int:
    size = sum(getattr(v, "nbytes", 0) or len(v) * 64 for cols in result.tables.values()
               for v in cols.values())
    return max(1, round(2 * size / 1e6))
