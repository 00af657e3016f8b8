"""Reads a view makes on opening, made ahead while the lab sits idle.

The phase diagram and the Experts view spend most of their opening waiting for their reads
(100-200 ms on 2 cores on 10,000 runs, their worker slowed by the widgets mounting beside
it). While the user reads another view, the app makes those reads for the current
experiment (`App.read_ahead_views`); a view that opens then takes the answer at once, or
joins a read still under way, instead of reading again.

A view's opening read is one function of the app's state (`opening_read`): the key says
which answer it stands for, so a changed choice reads afresh. Any change to the data
(`forget`) drops every answer, and an answer read before the change is thrown away; the
service tells of each unit stored (tui/live.py), so no answer outlives the results it read.
`generation` counts the changes: a view not on screen when one came reads again on its
return (tui/screens/base.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.message_pump import MessagePump

from .fetch import Fetched, fetch, one_line

IDLE_SECONDS = 0.5  # how long after a view opened or the data changed before reading ahead
KEEP = 6  # answers kept (the newest): one per view and experiment looked at


class ReadAhead:
    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()  # the workers store their answers from their threads
        self._done: dict[tuple, Any] = {}
        self._waiting: dict[tuple, list[tuple[MessagePump, str]]] = {}  # key -> asked, running
        self._failed: set[tuple] = set()  # not tried again until the data changes
        self._generation = 0

    @property
    def generation(self) -> int:
        """How many times the data changed since the app started."""
        return self._generation

    def forget(self) -> None:
        """The data changed: no answer read so far stands."""
        with self._lock:
            self._generation += 1
            self._done.clear()
            self._waiting.clear()
            self._failed.clear()

    def start(self, key: tuple, read: Callable[[], Any],
              aliases: Callable[[Any], list[tuple]] | None = None) -> None:
        """Read for key in a worker, unless its answer is here or on its way. aliases(answer):
        other keys the same answer stands for (a read for no experiment in particular is
        also the read for the experiment it chose)."""
        with self._lock:
            if key in self._done or key in self._waiting or key in self._failed:
                return
            self._waiting[key] = []
            generation = self._generation

        def work() -> None:
            try:
                value = read()
            except Exception as err:  # a view that opens later reads again and says why
                with self._lock:
                    asked = self._waiting.pop(key, [])
                    self._failed.add(key)
                for node, name in asked:
                    node.post_message(Fetched(name, None, one_line(err)))
                return
            with self._lock:
                if generation != self._generation:
                    return  # the data changed meanwhile
                asked = self._waiting.pop(key, [])
                for also in aliases(value) if aliases else []:
                    self._done.setdefault(also, value)
                self._done[key] = value
                while len(self._done) > KEEP:
                    del self._done[next(iter(self._done))]
            for node, name in asked:
                node.post_message(Fetched(name, value))
        self.app.run_worker(work, thread=True, group="read-ahead", exit_on_error=False)

    def fetch(self, node: MessagePump, name: str, key: tuple, read: Callable[[], Any]) -> None:
        """What tui.fetch.fetch does, answered from a read made ahead when there is one."""
        with self._lock:
            if key in self._done:
                value = self._done[key]
            elif key in self._waiting:
                self._waiting[key].append((node, name))
                return
            else:
                value = None
        if value is not None:
            node.post_message(Fetched(name, value))
        else:
            fetch(node, name, read)
