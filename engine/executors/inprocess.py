"""Train units in this process, one after another: what a foreground `moelab run` uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..plan import Unit
from ..train import Cancelled
from ..unit import run_unit
from .base import Event, Outcome, UnitDone, UnitProgress


class InProcessExecutor:
    name = "in-process"

    def run(self, units: Sequence[Unit], on_event: Callable[[Event], None],
            cancel: Callable[[], bool]) -> Outcome:
        from ..device import resolve_device
        for unit in units:
            device = resolve_device(unit.device)

            def progress(p, unit=unit, device=device) -> None:
                on_event(UnitProgress(unit.index, p.step, p.steps, p.n_models, p.loss, device))
            try:
                result = run_unit(unit, progress, cancel)
            except Cancelled:
                return "cancelled"
            on_event(UnitDone(unit, result))
        return "done"

    def close(self) -> None:
        pass
