"""The user queries the service is running, in a small side file (`<db>.service.query`), so
that when one takes the service down (the kernel's OOM killer, a crash in DuckDB) the next
`moelab status` and the next start can say which.

The file holds a JSON list of {started_at, query} while queries run and is empty otherwise;
it is opened like every side file (no links, owned by this user: safefiles.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .safefiles import UnsafeFile, open_private

log = logging.getLogger("moelab.service")

SHOWN = 200  # characters of a query kept and shown


def record_path(db: str | os.PathLike) -> Path:
    return Path(f"{db}.service.query")


def left_behind(db: str | os.PathLike) -> str | None:
    """What a service that died left in the file: "the service stopped while running a
    query: ...", or None. Call only when no service runs for `db`."""
    path = record_path(db)
    try:
        fd = open_private(path, os.O_RDONLY)
    except (OSError, UnsafeFile):
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(64 << 10)
    try:
        queries = json.loads(data) if data.strip() else []
    except ValueError:
        return None
    if not queries or not isinstance(queries, list) or not isinstance(queries[0], dict):
        return None
    first = queries[0]
    more = f" (and {len(queries) - 1} more)" if len(queries) > 1 else ""
    return (f"the service stopped while running a query (started {first.get('started_at')}): "
            f"{first.get('query')}{more}")


class QueryRecord:
    def __init__(self, db: str | os.PathLike):
        self.path = record_path(db)
        self.previous = left_behind(db)  # the service is starting: any record is a dead one's
        self._lock = threading.Lock()
        self._running: dict[int, dict] = {}
        if self.previous:
            log.warning("%s", self.previous)
        self._write()

    @contextlib.contextmanager
    def running(self, query: str) -> Iterator[None]:
        key = threading.get_ident()
        entry = {"started_at": dt.datetime.now().isoformat(timespec="seconds"),
                 "query": " ".join(query[:SHOWN * 2].split())[:SHOWN]}
        with self._lock:
            self._running[key] = entry
            self._write()
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(key, None)
                self._write()

    def close(self) -> None:
        """The service stops cleanly: its record goes (a crash leaves it for the next start)."""
        with self._lock:
            self._running.clear()
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _write(self) -> None:
        try:
            fd = open_private(self.path, os.O_WRONLY | os.O_CREAT)
        except (OSError, UnsafeFile) as err:  # a record is a help, never a reason to fail
            log.warning("cannot write %s: %s", self.path, err)
            return
        try:
            data = json.dumps(list(self._running.values())).encode() if self._running else b""
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)
