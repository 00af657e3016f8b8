"""StoreLedger: the runner's Ledger (runner.py) over one open Store of db/.

db/ imports nothing of the engine, so the Store does not implement the protocol itself; this
adapter turns the runner's calls into the Store's. The lab service holds one (with its lock,
service/ledger.py); a foreground run makes one for each time it opens the file
(moelab/file_ledger.py); tests use it as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .plan import Unit
from .unit import UnitResult


class StoreLedger:
    def __init__(self, store, lock=None, owner: str | None = None, preset: str | None = None,
                 quick: bool = False):
        self.store = store
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.owner, self.preset, self.quick = owner, preset, bool(quick)

    def create(self, name: str, config: str, device: str | None) -> int:
        with self.lock:
            eid = self.store.create_experiment(name, self.preset, config, status="running",
                                               quick=self.quick)
            self.store.set_experiment_status(eid, "running", device=device, owner=self.owner)
        return eid

    @contextlib.contextmanager
    def reading(self) -> Iterator[object]:
        yield self.store  # thread-safe on its own: planning reads need not hold the lock

    def unit_work(self, experiment_id: int) -> float | None:
        return self.store.unit_work(experiment_id)

    def set_plan(self, experiment_id: int, n_runs: int, n_units: int, unit_work: float) -> None:
        with self.lock:
            self.store.set_plan(experiment_id, n_runs, n_units, unit_work)

    def stored_units(self, experiment_id: int) -> set[int]:
        return self.store.stored_units(experiment_id)

    def write_unit(self, experiment_id: int, unit: Unit, result: UnitResult) -> int:
        with self.lock:
            ids = self.store.write_unit(experiment_id, unit.index, result.tables,
                                        result.meta(), dict(unit.point_sizes))
        return len(ids) if ids is not None else 0

    def experiment(self, experiment_id: int) -> dict | None:
        return self.store.experiment(experiment_id)

    def set_status(self, experiment_id: int, status: str, message: str) -> None:
        with self.lock:
            self.store.set_experiment_status(experiment_id, str(status), message=message)
