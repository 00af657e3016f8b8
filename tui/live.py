"""The live feed: the service's event stream and a slow status poll, as UI messages.

Progress events arrive many times a second while the service trains; the stream thread
keeps only the newest one and posts a `ProgressTick` when none is waiting, so the UI
handles at most one per frame however fast training goes. Each unit stored is posted as
an `ExperimentChanged` of a running experiment: its stored results changed, so every view of
it reads them again (the app's data_changed), as each unit is stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from textual.message import Message


@dataclass
class ProgressTick(Message):
    """New progress is waiting in LiveFeed.take_progress()."""


@dataclass
class ExperimentChanged(Message):
    experiment_id: int | None
    status: str | None


class LiveFeed:
    def __init__(self, app, lab):
        self._app = app
        self._lab = lab
        self._lock = threading.Lock()
        self._latest: dict | None = None
        self._pending = False
        self._stop = threading.Event()

    def start(self) -> None:
        # A daemon thread, not a Textual worker: a stream blocked on a quiet socket must not
        # keep the app from exiting (the interpreter waits for worker threads).
        self._stop.clear()
        threading.Thread(target=self._stream, name="moelab-events", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def take_progress(self) -> dict | None:
        with self._lock:
            latest, self._latest, self._pending = self._latest, None, False
            return latest

    def _stream(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._lab.events():
                    if self._stop.is_set():
                        return
                    self._on_event(event)
            except Exception:  # the service went away; try again shortly
                pass
            self._stop.wait(2.0)

    def _on_event(self, event: dict) -> None:
        if event.get("type") == "progress":
            with self._lock:
                self._latest = event
                if self._pending:
                    return
                self._pending = True
            self._app.post_message(ProgressTick())
        elif event.get("type") == "status":
            self._app.post_message(ExperimentChanged(event.get("experiment_id"),
                                                     event.get("status")))
        elif event.get("type") == "unit":  # runs stored: the experiment is still running
            self._app.post_message(ExperimentChanged(event.get("experiment_id"), "running"))
