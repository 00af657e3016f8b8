"""When the interface's process collects cyclic garbage, so that it never stalls a frame.

Python's automatic full collection walks every tracked object: with an interface on
screen (about 100,000 objects) it held the UI thread for 40–90 ms on a 2-core machine,
a few times a minute while training updates the view. Here:

* objects alive after start-up are frozen (gc.freeze): no collection walks them again;
* automatic full collections are off; every few seconds the objects that survived since
  the last freeze are collected and frozen in turn (a pass over thousands, not 100,000);
* a complete collection (unfreeze, collect, freeze) runs periodically while nothing
  trains, and just after the user changes views (once the new view is up: the app's
  collect_soon) when much has been frozen since the last one, so cycles that died after
  being frozen are still reclaimed. (At every view change it cost 100-500 ms with a
  10,000-run phase diagram in memory.)

Young generations are collected automatically as usual (they are small).
"""

from __future__ import annotations

import gc
import time

YOUNG_EVERY = 5.0  # seconds between collecting and freezing what survived
IDLE_FULL_EVERY = 120.0  # seconds between complete collections while nothing trains
NO_AUTOMATIC_FULL = 1_000_000  # gen-2 threshold: a count the gen-1 collections never reach
FULL_AFTER_GROWTH = 250_000  # objects frozen since the last complete collection


class Collector:
    def __init__(self):
        self.last_full = time.monotonic()
        self._thresholds = gc.get_threshold()
        self.frozen_after_full = 0

    def install(self) -> None:
        self.full()
        g0, g1, _ = self._thresholds
        gc.set_threshold(g0, g1, NO_AUTOMATIC_FULL)

    def uninstall(self) -> None:
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    def full(self) -> None:
        """Everything, frozen objects included; then freeze the survivors."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.last_full = time.monotonic()
        self.frozen_after_full = gc.get_freeze_count()

    def full_if_grown(self) -> None:
        """A complete collection if much was frozen since the last one."""
        if gc.get_freeze_count() - self.frozen_after_full > FULL_AFTER_GROWTH:
            self.full()

    def tick(self, training: bool) -> None:
        """Called every YOUNG_EVERY seconds by the app."""
        if not training and time.monotonic() - self.last_full > IDLE_FULL_EVERY:
            self.full()
            return
        gc.collect()  # frozen objects are not walked: this covers only the survivors
        gc.freeze()
