"""Who trains an experiment marked 'running': the service, or a foreground `moelab run`.

The experiments table's `owner` column says so. A foreground run holds the database only
to register and to store its units, so a service may start while it trains; the service
leaves its experiment alone while that process lives, and resumes it once it is gone.
"""

from __future__ import annotations

import os
import re
import socket

from .paths import pid_alive

_FOREGROUND = re.compile(r"^foreground pid (?P<pid>\d+) on (?P<host>.+)$")


def foreground_mark() -> str:
    return f"foreground pid {os.getpid()} on {socket.gethostname()}"


def service_mark() -> str:
    return f"service pid {os.getpid()} on {socket.gethostname()}"


def foreground_owner(owner: str | None) -> tuple[int, str] | None:
    found = _FOREGROUND.match(owner or "")
    return (int(found["pid"]), found["host"]) if found else None


def foreground_alive(owner: str | None) -> bool:
    """True while the foreground process that owns the experiment still runs."""
    found = foreground_owner(owner)
    if found is None:
        return False
    pid, host = found
    if host != socket.gethostname():
        return True  # a process on another machine: we cannot tell, so never steal its run
    return pid_alive(pid)
