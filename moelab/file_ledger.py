"""A foreground run's Ledger (engine/runner.py): the database file opened for each write.

A `moelab run` holds the file only to register the experiment and to store a unit, so other
readers can open it meanwhile and a lab service may start while it trains. When a service
holds the file at a later write, HandedOver is raised: the caller hands the experiment to
the service (adopt), which resumes it with the units not yet stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class HandedOver(Exception):
    """A lab service took the database while this run trained."""


class FileLedger:
    def __init__(self, db_path, preset: str | None = None, quick: bool = False):
        self.path, self.preset, self.quick = db_path, preset, bool(quick)
        self.experiment_id: int | None = None  # once create() registered it
        self.seconds = 0.0  # spent storing units
        self._row: dict | None = None  # the experiment as the last unit's write left it

    @contextlib.contextmanager
    def _ledger(self, handover: bool = True) -> Iterator[object]:
        from moelab.db import StoreLocked, open_store
        from moelab.engine.ledger import StoreLedger
        from moelab.engine.service.owners import foreground_mark
        try:
            store = open_store(self.path)
        except StoreLocked:
            if not handover:
                raise
            raise HandedOver() from None
        with store:
            yield StoreLedger(store, owner=foreground_mark(), preset=self.preset,
                              quick=self.quick)

    def create(self, name: str, config: str, device: str | None) -> int:
        with self._ledger(handover=False) as ledger:  # a held file: nothing to hand over yet
            self.experiment_id = ledger.create(name, config, device)
        return self.experiment_id

    @contextlib.contextmanager
    def reading(self) -> Iterator[object]:
        """The file opened read-only, and only if the family's plan reads it (a crosscoder
        reads its source runs; a toy plan reads nothing)."""
        reader = _OpenOnUse(self.path)
        try:
            yield reader
        finally:
            reader.close()

    def unit_work(self, experiment_id: int) -> float | None:
        with self._ledger() as ledger:
            return ledger.unit_work(experiment_id)

    def set_plan(self, experiment_id: int, n_runs: int, n_units: int, unit_work: float) -> None:
        with self._ledger() as ledger:
            ledger.set_plan(experiment_id, n_runs, n_units, unit_work)

    def stored_units(self, experiment_id: int) -> set[int]:
        if experiment_id == self.experiment_id:
            return set()  # registered by this run a moment ago: nothing stored yet
        with self._ledger() as ledger:
            return ledger.stored_units(experiment_id)

    def write_unit(self, experiment_id: int, unit, result) -> int:
        from moelab.db import DiskFull
        t0 = time.perf_counter()
        with self._ledger() as ledger:
            try:
                n = ledger.write_unit(experiment_id, unit, result)
            except DiskFull as err:  # left running with a dead owner: a service resumes it
                raise DiskFull(f"{err}; the units stored so far are kept: free some space "
                               "and `moelab engine start` resumes the experiment with the "
                               "units still to do") from None
            self._row = ledger.experiment(experiment_id)
        self.seconds += time.perf_counter() - t0
        return n

    def experiment(self, experiment_id: int) -> dict | None:
        if self._row is not None and self._row.get("experiment_id") == experiment_id:
            return self._row  # nobody else writes a foreground run's experiment
        with self._ledger() as ledger:
            return ledger.experiment(experiment_id)

    def set_status(self, experiment_id: int, status: str, message: str) -> None:
        """Record an ending; when a service holds the file, it records it (adopt)."""
        from moelab.db import StoreLocked, open_store
        try:
            with open_store(self.path) as store:
                store.set_experiment_status(experiment_id, str(status), message=message)
        except StoreLocked:
            from moelab.engine.service.client import ServiceClient
            with ServiceClient(self.path) as client:
                client.request("adopt", experiment_id=experiment_id, status=str(status),
                               message=message)


class _OpenOnUse:
    """A read-only Store of the file, opened at its first query."""

    def __init__(self, path):
        self.path = path
        self._store = None

    def __getattr__(self, name: str):
        if self._store is None:
            from moelab.db import open_read_only
            self._store = open_read_only(self.path)
        return getattr(self._store, name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
