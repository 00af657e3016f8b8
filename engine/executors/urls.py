"""Executor URLs: `moelab engine start --executor URL` names where the service's units
train; parse_executor checks one (registry.py's executor_for builds it). A new executor adds
a scheme here, its module, and a line in registry.py.

  local                   one spawned worker process on this machine (the default)
  dask+local:N            a private Dask LocalCluster of N one-thread workers (local:N too)
  dask://HOST:PORT        a running Dask scheduler over plain TCP (tcp://HOST:PORT too)
  tls://HOST:PORT         a Dask scheduler that requires TLS (dask+tls://HOST:PORT too)

parse_executor checks a URL without importing Dask, so the CLI refuses a bad one before a
service starts. Stdlib only: the CLI imports this.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..client import ClientError

SCHEMES = "local, dask+local:N, dask://HOST:PORT or tls://HOST:PORT"
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


class ExecutorError(ClientError):
    """An executor that cannot be used: a bad URL, or a cluster that does not answer."""


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str  # "local", "dask-local" or "dask"
    name: str  # what status shows: "local", "dask local:2", "dask tcp://head:8786"
    address: str = ""  # the Dask scheduler's, with its transport (tcp:// or tls://)
    workers: int = 0  # dask-local's worker count


def max_local_workers() -> int:
    """A local worker is a one-thread process training CPU-bound units: beyond one per core
    the workers only share the cores and each holds its own torch and numba (a few hundred
    MB), so a larger count is a mistake (local:100000 took the service past 1 GB and hung)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_executor(url: str) -> ExecutorSpec:
    """The executor a URL names; ExecutorError (one line) when it names none."""
    text = (url or "").strip()
    if text == "local":
        return ExecutorSpec("local", "local")
    for prefix in ("dask+local:", "local:"):
        if text.startswith(prefix):
            return _local_cluster(url, text[len(prefix):])
    for prefix, transport in (("dask+tls://", "tls"), ("dask://", "tcp"), ("tcp://", "tcp"),
                              ("tls://", "tls")):
        if text.startswith(prefix):
            host_port = text[len(prefix):].rstrip("/")
            m = _HOST_PORT.fullmatch(host_port)
            if not m or not 0 < int(m[2]) < 65536:
                raise ExecutorError(f"executor {_shown(url)}: give the scheduler as "
                                    f"{prefix}HOST:PORT, e.g. {prefix}head:8786")
            address = f"{transport}://{host_port}"
            return ExecutorSpec("dask", f"dask {address}", address=address)
    raise ExecutorError(f"{_shown(url)} names no executor; use {SCHEMES} "
                        "(docs/cluster.md)")


def dask_alias(address: str) -> str:
    """`--dask ADDRESS` as an --executor URL: local:N, a scheme://, or a bare HOST:PORT."""
    text = address.strip()
    if text.startswith("local:") or "://" in text:
        return text
    return f"tcp://{text}"


def _local_cluster(url: str, count: str) -> ExecutorSpec:
    most = max_local_workers()
    digits = count.lstrip("0") if re.fullmatch(r"[0-9]+", count) else ""
    if not digits:
        raise ExecutorError(f"executor {_shown(url)}: give the number of local workers, "
                            f"e.g. dask+local:{min(2, most)}")
    n = int(digits) if len(digits) < 12 else most + 1  # int() refuses 4,300 digits
    if n > most:
        raise ExecutorError(f"executor {_shown(url)}: this machine has {most} core"
                            f"{'s' if most > 1 else ''} to train on; give at most "
                            f"dask+local:{most} (one one-thread worker per core)")
    return ExecutorSpec("dask-local", f"dask local:{n}", workers=n)


def _shown(url: str) -> str:
    text = repr(url)
    return text if len(text) <= 60 else text[:57] + "..."
