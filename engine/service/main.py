"""The service process: take the lock, open the store, recover, listen, train, stop cleanly.

Started detached by launch.py (`python -m moelab.engine.service DB --ready-fd N`); it tells
its launcher "ready {info}" or "error MESSAGE" on that pipe, then lives until
`moelab engine stop`, SIGTERM or SIGINT. SIGHUP is ignored: a closed terminal or a lost
SSH session must not stop training.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time

from .logfile import RotatingStderrHandler
from .paths import ServicePaths, read_info
from .safefiles import UnsafeFile, apply_umask, check_lab_files, open_private

log = logging.getLogger("moelab.service")

OPEN_RETRY_SECONDS = 5.0  # a direct reader or a foreground run may hold the file briefly
QUERY_STOP_WAIT = 10.0  # seconds a stop waits for interrupted user queries to unwind


class StartError(Exception):
    """Why this service cannot start; one line for the user."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moelab.engine.service")
    ap.add_argument("db")
    ap.add_argument("--ready-fd", type=int)
    ap.add_argument("--executor", metavar="URL",
                    help="where units train: local (default), dask+local:N, dask://HOST:PORT, "
                         "tls://HOST:PORT (engine/executors/registry.py)")
    args = ap.parse_args(argv)
    paths = ServicePaths.of(args.db)
    handler = RotatingStderrHandler(paths.log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        apply_umask()  # the WAL, spill files and socket are born private
        lock_fd, service, server = start(paths, args.executor)
    except Exception as err:
        message = str(err) if isinstance(err, StartError) else f"{type(err).__name__}: {err}"
        log.error("cannot start: %s", message)
        _tell(args.ready_fd, "error " + " ".join(message.split()))
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
    service.scheduler.start()
    info = read_info(paths)
    log.info("serving %s on %s", paths.db, paths.socket)
    _tell(args.ready_fd, "ready " + json.dumps(info))
    while not stop.is_set() and not service.stopping.is_set():
        stop.wait(0.5)
    shutdown(paths, lock_fd, service, server)
    return 0


def start(paths: ServicePaths, executor: str | None = None):
    from moelab.db import StoreError

    from .core import LabService
    from .server import LabServer

    try:
        check_lab_files(paths)
        lock_fd = _take_lock(paths)
    except UnsafeFile as err:
        raise StartError(str(err)) from None
    try:
        store = _open_store(paths)
    except StoreError as err:
        os.close(lock_fd)
        raise StartError(_lock_message(paths, str(err))) from None
    _warn_if_shared(paths)
    try:
        built = _executor(paths, executor)
    except Exception:
        store.close()
        os.close(lock_fd)
        raise
    service = LabService(store, paths, built)
    service.recover()
    if paths.socket.exists() or paths.socket.is_symlink():
        paths.socket.unlink()  # we hold the lock, so whoever made it is gone
    server = LabServer(str(paths.socket), service)
    info = {"pid": os.getpid(), "socket": str(paths.socket), "db": str(paths.db),
            "log": str(paths.log), "host": socket.gethostname(),
            "executor": service.executor.name,
            "started_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()}
    data = json.dumps(info).encode()
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, data, 0)
    os.fsync(lock_fd)
    return lock_fd, service, server


def _executor(paths: ServicePaths, url: str | None):
    """The service's executor, named by URL (checked now, so a scheduler that does not
    answer is one line at `moelab engine start`)."""
    from ..executors.registry import ExecutorError, executor_for
    try:
        return executor_for(url, str(paths.log))
    except ExecutorError as err:
        raise StartError(str(err)) from None


def shutdown(paths: ServicePaths, lock_fd: int, service, server) -> None:
    from moelab.db.userquery import interrupt_all
    log.info("stopping")
    service.stop()
    # User queries first: one that runs on would keep the store from closing ("connection
    # is busy") and hold up the stop for as long as it computes.
    interrupt_all("the lab service is stopping", wait=QUERY_STOP_WAIT)
    service.scheduler.join(60.0)
    with contextlib.suppress(Exception):  # a Dask client, a LocalCluster's workers
        service.executor.close()
    server.shutdown()
    server.server_close()
    service.hub.close_all()
    # Stop taking requests before the store closes under a handler thread.
    with contextlib.suppress(OSError):
        paths.socket.unlink()
    interrupt_all("the lab service is stopping", wait=QUERY_STOP_WAIT)
    with service.lock:
        service.store.close()
    with contextlib.suppress(OSError):
        paths.info.unlink()
    service.queries.close()  # a clean stop runs no query: nothing for the next start to say
    os.close(lock_fd)
    log.info("stopped")


def _warn_if_shared(paths: ServicePaths) -> None:
    """Files made before moelab kept them private stay as they were: say so once."""
    mode = paths.db.stat().st_mode & 0o777
    if mode & 0o077 and not os.environ.get("MOELAB_UMASK"):
        log.warning("%s can be read by other users (mode %03o); `chmod 600` it unless you "
                    "share it on purpose (docs/service.md: Shared machines)", paths.db, mode)


def _take_lock(paths: ServicePaths) -> int:
    """One service per database file: an flock on <db>.service.json, held for life (the
    kernel drops it when the process dies, even by kill -9, so it is never stale)."""
    fd = open_private(paths.info, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        info = read_info(paths) or {}
        raise StartError(f"a lab service already runs for {paths.db} (pid {info.get('pid', '?')},"
                         f" socket {info.get('socket', paths.socket)}); use it, or stop it "
                         "with `moelab engine stop`") from None
    return fd


def _open_store(paths: ServicePaths):
    from moelab.db import StoreError, open_store
    deadline = time.monotonic() + OPEN_RETRY_SECONDS
    while True:
        try:
            return open_store(paths.db)
        except StoreError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _lock_message(paths: ServicePaths, text: str) -> str:
    if "locked" not in text:
        return text
    holder = re.search(r"\(pid (\d+)(?:, ([^)]*))?\)", text)
    who = f" (pid {holder[1]}{', ' + holder[2] if holder[2] else ''})" if holder else ""
    return (f"{paths.db} is locked by another process{who} that is not a moelab service; "
            "close it (a duckdb shell, a notebook) and start the service again")


def _tell(fd: int | None, line: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, line.encode() + b"\n")
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
