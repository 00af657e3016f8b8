"""Who trains an experiment marked 'running': the service, or a foreground `moelab run`.

A foreground run holds the database only to register and to store, so a service may start
while it trains. It marks its row's message with its pid and host; the service leaves such
a row alone while that process lives, and treats it as interrupted once it is gone.
"""

from __future__ import annotations

import os
import re
import socket

from .paths import pid_alive

_MARK = re.compile(r"training in the foreground \(pid (?P<pid>\d+) on (?P<host>[^)]+)\)")


def foreground_mark() -> str:
    return f"training in the foreground (pid {os.getpid()} on {socket.gethostname()})"


def foreground_owner(message: str | None) -> tuple[int, str] | None:
    found = _MARK.search(message or "")
    return (int(found["pid"]), found["host"]) if found else None


def foreground_alive(message: str | None) -> bool:
    """True while the foreground process that marked this message still runs."""
    owner = foreground_owner(message)
    if owner is None:
        return False
    pid, host = owner
    if host != socket.gethostname():
        return True  # a process on another machine: we cannot tell, so never steal its run
    return pid_alive(pid)
