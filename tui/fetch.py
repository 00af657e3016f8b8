"""Calls to the lab in worker threads; results come back to the UI as messages.

Workers never touch widgets: each call posts a `Fetched` message to the node that asked,
which handles it on the UI thread. Calls on the shared client are serialised by a lock,
since a socket client need not be thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import get_current_worker


class Lab:
    """The app's handle on the client: the same methods, one call at a time."""

    def __init__(self, client):
        self.client = client
        self._lock = threading.Lock()

    def call(self, method: str, *args, **kwargs) -> Any:
        with self._lock:
            return getattr(self.client, method)(*args, **kwargs)

    def read(self, name: str, **params) -> Any:
        return self.call("read", name, **params)

    def sql(self, query: str, limit: int | None = None):
        return self.call("sql", query, limit)

    def events(self):
        # Streams hold their own connection; not under the lock, or they would block reads.
        return self.client.events()

    def close(self) -> None:
        self.client.close()


@dataclass
class Fetched(Message):
    key: str
    value: Any = None
    error: str | None = None


def fetch(node: MessagePump, key: str, fn: Callable[[], Any], exclusive: bool = True) -> None:
    """Run fn in a thread worker and post Fetched(key, …) to node when it is done."""

    def work() -> None:
        try:
            value, error = fn(), None
        except Exception as err:  # shown to the user as one line
            value, error = None, one_line(err)
        # A newer call of the same key replaced this one: its answer would be stale.
        if not get_current_worker().is_cancelled:
            node.post_message(Fetched(key, value, error))

    node.run_worker(work, thread=True, group=key, exclusive=exclusive, exit_on_error=False)


def one_line(err: Exception) -> str:
    """The error as one line of display text (escaped: messages quote [lists] and SQL)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return escape(text if len(text) < 300 else text[:297] + "…")
