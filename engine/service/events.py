"""Fan-out of service events to streaming clients, without letting one stall training.

Each subscriber has its own small queue. Publishing never blocks: consecutive progress
events coalesce into the newest one (a client that reads slowly sees fewer, fresher
updates), status events keep their order, and a queue that grows past its bound drops its
oldest entries. Each client's socket is written by that client's own handler thread.
"""

from __future__ import annotations

import threading
from collections import deque


class Subscriber:
    def __init__(self, bound: int = 1000):
        self._cond = threading.Condition()
        self._items: deque[dict] = deque(maxlen=bound)
        self.closed = False

    def push(self, event: dict) -> None:
        with self._cond:
            if (event.get("type") == "progress" and self._items
                    and self._items[-1].get("type") == "progress"):
                self._items[-1] = event
            else:
                self._items.append(event)
            self._cond.notify()

    def take(self, timeout: float) -> list[dict]:
        """Everything waiting, oldest first; [] after `timeout` seconds of quiet."""
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify()


class EventHub:
    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)
        sub.close()

    def publish(self, event: dict) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for sub in subs:
            sub.push(event)

    def close_all(self) -> None:
        with self._lock:
            subs, self._subscribers = list(self._subscribers), set()
        for sub in subs:
            sub.close()
