"""The service's log: rotated by size while the service runs, and quiet under a flood.

The service's stdout and stderr are `<db>.service.log` (launch.py opens it), so tracebacks
and stray prints land there too. Past LOG_ROTATE_BYTES the file becomes `.log.1` and a new
one takes over both descriptors; a client sending thousands of malformed requests adds a
few lines a minute, not one per request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

from .safefiles import UnsafeFile, open_private

LOG_ROTATE_BYTES = 10 * 1024 * 1024


class RotatingStderrHandler(logging.StreamHandler):
    """Writes to stderr (or `stream`); when the log file behind it grows past `limit`,
    renames it to `.1` and points the stream's descriptor (and stdout's, for stderr) at a
    fresh file."""

    def __init__(self, path: Path, limit: int = LOG_ROTATE_BYTES, stream=None):
        super().__init__(stream or sys.stderr)
        self.path = path
        self.limit = limit

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        with contextlib.suppress(OSError, ValueError):
            if os.fstat(self.stream.fileno()).st_size > self.limit:
                self.rotate()

    def rotate(self) -> None:
        target = self.stream.fileno()
        try:
            if not os.path.samestat(os.fstat(target), os.stat(self.path, follow_symlinks=False)):
                return  # not writing to our log (run by hand, or already moved)
            os.replace(self.path, f"{self.path}.1")
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL)
        except (OSError, UnsafeFile):
            return  # keep writing where we were rather than lose the log
        self.flush()
        sys.stdout.flush()
        for descriptor in {target, 1} if target == 2 else {target}:
            os.dup2(fd, descriptor)
        os.close(fd)


class Throttle:
    """At most `burst` log lines per `window` seconds for one kind of event; the rest are
    counted and reported with the next line that gets through."""

    def __init__(self, burst: int = 5, window: float = 60.0):
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._count = 0
        self._suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(log this one?, how many were dropped since the last logged one)."""
        with self._lock:
            now = time.monotonic()
            if now - self._start > self.window:
                self._start, self._count = now, 0
            if self._count < self.burst:
                self._count += 1
                dropped, self._suppressed = self._suppressed, 0
                return True, dropped
            self._suppressed += 1
            return False, 0
