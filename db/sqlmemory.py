"""The memory a user query may take: MOELAB_SQL_MEMORY, and a watchdog that holds it.

DuckDB's memory_limit (set to this budget unless MOELAB_DB_MEMORY says otherwise,
db/connection.py) bounds its sorts, joins and aggregates, which spill or fail cleanly. The
values functions build (lists, strings) are allocated outside it, so while user queries run
a watchdog thread reads the process's resident memory every WATCH_EVERY seconds and
interrupts them when it has grown by more than the budget since they started (DuckDB stops
at its next batch). Sizes that a single call could blow up are refused before planning
(db/sqlbounds.py).

  MOELAB_SQL_MEMORY  "2GB", "512MB", "25%" (of the machine's memory); default a quarter
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Protocol

from .errors import StoreError

WATCH_EVERY = 0.02  # seconds between looks at the process's memory
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]?i?b?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def sql_memory() -> int:
    """MOELAB_SQL_MEMORY in bytes (default: a quarter of the machine, at least 256 MB)."""
    raw = os.environ.get("MOELAB_SQL_MEMORY") or ""
    if not raw:
        return max(256 << 20, machine_memory() // 4)
    match = _SIZE.fullmatch(raw)
    if not match:
        raise StoreError(f"MOELAB_SQL_MEMORY={raw!r} is not a size (e.g. 2GB, 512MB, 25%)")
    value, unit = float(match[1]), match[2].lower()
    size = machine_memory() * value / 100 if unit == "%" else value * _UNITS[unit[:1]]
    if size < 16 << 20:
        raise StoreError(f"MOELAB_SQL_MEMORY={raw!r} is below 16MB; DuckDB cannot work in that")
    return int(size)


def duckdb_size(size: int) -> str:
    return f"{max(16, size >> 20)}MB"


def resident() -> int | None:
    """This process's resident memory in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Watched(Protocol):
    def interrupt(self, why: str) -> bool: ...


class Watchdog:
    """Interrupts each watched query once the process has grown by more than the budget
    since that query started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[Watched, int, int]] = {}
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def watch(self, query: Watched, budget: int) -> None:
        start = resident()
        if start is None:
            return
        with self._lock:
            self._watched[id(query)] = (query, start, budget)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sql-memory",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def forget(self, query: Watched) -> None:
        with self._lock:
            self._watched.pop(id(query), None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._watched:
                    self._wake.wait()
                watched = list(self._watched.values())
            now = resident() or 0
            for query, start, budget in watched:
                if now - start > budget:
                    self.forget(query)
                    query.interrupt(
                        f"it took more than {budget >> 20} MB of memory (MOELAB_SQL_MEMORY); "
                        "narrow it (WHERE, LIMIT, fewer or smaller values)")
            time.sleep(WATCH_EVERY)


WATCHDOG = Watchdog()
