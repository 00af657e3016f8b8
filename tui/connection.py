"""Whether the lab service answers, and whether it is the same service as before.

The app polls the service's status every few seconds. A poll that fails means the service
is gone (stopped, crashed, restarting); the next one that answers, or an answer from a
service with another identity (pid and start time) than the last, means everything shown
may be stale: the app then reloads the view and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Change:
    """What the app tells the user: kind is 'lost', 'back' or 'restarted'."""

    kind: str
    text: str


class Connection:
    def __init__(self):
        self.identity: tuple | None = None
        self.lost_since: float | None = None
        self.last_error = ""

    @property
    def lost(self) -> bool:
        return self.lost_since is not None

    def answered(self, status: dict) -> Change | None:
        service = status.get("service") or {}
        identity = (service.get("pid"), service.get("started_at")) if service else None
        previous, self.identity = self.identity, identity
        if self.lost_since is not None:
            gone = time.monotonic() - self.lost_since
            self.lost_since = None
            return Change("back", f"reconnected to the lab service after {gone:.0f} s; "
                          "reloaded the view")
        if previous is not None and identity is not None and identity != previous:
            return Change("restarted", f"the lab service restarted (pid {identity[0]}); "
                          "reloaded the view")
        return None

    def failed(self, error: str) -> Change | None:
        self.last_error = error
        if self.lost_since is not None:
            return None
        self.lost_since = time.monotonic()
        return Change("lost", f"lost the lab service ({error}); reconnecting by itself…")

    def line(self) -> str:
        if self.lost_since is None:
            return ""
        gone = time.monotonic() - self.lost_since
        return f"no lab service for {gone:.0f} s: reconnecting…"
