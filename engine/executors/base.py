"""The Executor protocol: where units train. Local process, in-process and Dask are three
small implementations of it; the service and `moelab run` see only this.

run(units, on_event, cancel) trains every unit, calling on_event with a UnitProgress now
and then, a UnitDone for each finished unit (the caller stores it at once) and a UnitFailed
when a unit failed on every try. It returns "done", "cancelled" (cancel() turned true) or
"failed" (a unit failed for good; the units done before it were reported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..plan import Unit
from ..unit import UnitResult

MAX_TRIES = 3  # a unit whose worker dies or raises is tried this often before it fails


@dataclass
class UnitProgress:
    unit: int
    step: int
    steps: int
    n_models: int
    loss: float
    device: str


@dataclass
class UnitDone:
    unit: Unit
    result: UnitResult


@dataclass
class UnitFailed:
    unit: Unit
    reason: str


Event = UnitProgress | UnitDone | UnitFailed
Outcome = Literal["done", "cancelled", "failed"]


class Executor(Protocol):
    name: str  # shown in status: "local", "in-process", "dask tcp://..."

    def run(self, units: Sequence[Unit], on_event: Callable[[Event], None],
            cancel: Callable[[], bool]) -> Outcome: ...

    def close(self) -> None: ...
