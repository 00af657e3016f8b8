"""The lab service's client: LabClient over the service's Unix socket.

Imports only the standard library and engine.client, so `moelab status` and `moelab sql`
start fast (no torch, no duckdb). `connect()` is what the CLI and the TUI call.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..client import ClientError, LabClient
from .paths import ServicePaths, pid_alive
from .protocol import decode, encode

CONNECT_TIMEOUT = 5.0
REPLY_TIMEOUT = 600.0  # a long SQL query may take a while; a hung service should not hang us
IDLE_CONNECTIONS = 4  # kept open for the next requests; more are opened while all are busy


class ServiceUnavailable(ClientError):
    """No service answers on this database's socket."""


class ServiceClient:
    """Thread-safe: each request takes an idle connection or opens one, so a long query in
    one thread does not hold up the requests of others (the TUI's panels); plus one
    connection per events() stream."""

    def __init__(self, db_path: str | os.PathLike):
        self.paths = ServicePaths.of(db_path)
        self._lock = threading.Lock()
        self._idle: list[tuple[socket.socket, Any]] = []
        self._open_conns: set[socket.socket] = set()
        self._streams: set[socket.socket] = set()
        self._closed = False
        first = self._open()  # fail now, not at the first request
        with self._lock:
            self._idle.append(first)
            self._open_conns.add(first[0])

    # -- LabClient ---------------------------------------------------------------------------
    def sql(self, query: str, limit: int | None = None, timeout: float | None = None,
            max_rows: int | None = None) -> tuple[list[str], list[list]]:
        limits = {k: v for k, v in (("timeout", timeout), ("max_rows", max_rows))
                  if v is not None}
        out = self.request("sql", query=query, limit=limit, **limits)
        return out["columns"], out["rows"]

    def interrupt(self) -> int:
        """Stop every user query the service is running (the TUI's cancel)."""
        return int(self.request("interrupt"))

    def read(self, name: str, **params) -> Any:
        return self.request("read", name=name, params=params)

    def status(self) -> dict:
        return self.request("status")

    def submit(self, config: dict | None, preset: str | None = None, quick: bool = False,
               name: str | None = None) -> int:
        return int(self.request("submit", config=config, preset=preset, quick=quick,
                                name=name))

    def cancel(self, experiment_id: int) -> str:
        return self.request("cancel", experiment_id=experiment_id)

    def events(self) -> Iterator[dict]:
        """Progress and status events until close(). Subscribed when this returns, so an
        experiment submitted afterwards cannot slip by unseen."""
        sock = self._open_socket()
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.sendall(encode({"op": "events", "args": {}}))
            rfile = sock.makefile("rb")
            reply = rfile.readline()
            if not reply or not decode(reply).get("ok"):
                raise ClientError("the lab service refused the event stream")
            sock.settimeout(None)
        except (OSError, ValueError) as err:
            sock.close()
            raise ServiceUnavailable(f"lost the lab service: {err}") from None
        with self._lock:
            if self._closed:
                sock.close()
                return iter(())
            self._streams.add(sock)
        return self._stream(sock, rfile)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            streams, self._streams = list(self._streams), set()
            conns, self._open_conns, self._idle = list(self._open_conns), set(), []
        for sock in streams + conns:
            try:  # shutdown wakes a thread blocked reading this socket
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the wire ----------------------------------------------------------------------------
    def request(self, op: str, **args) -> Any:
        for attempt in (1, 2):
            conn, reused = self._checkout()
            sock, rfile = conn
            try:
                sock.settimeout(REPLY_TIMEOUT)
                sock.sendall(encode({"op": op, "args": args}))
                line = rfile.readline()
                if not line:
                    raise ConnectionError("the service closed the connection")
                reply = decode(line)
            except (OSError, ValueError) as err:
                self._discard(sock)
                # A kept connection may predate a service restart: retry once, afresh.
                if attempt == 2 or not reused or op == "stop":
                    raise ServiceUnavailable(
                        f"lost the lab service for {self.paths.db} ({err}); "
                        "`moelab engine status` says whether it runs") from None
                continue
            self._checkin(conn)
            break
        if not reply.get("ok"):
            raise ClientError(reply.get("error") or "the lab service refused the request")
        return reply.get("result")

    def _checkout(self) -> tuple[tuple[socket.socket, Any], bool]:
        with self._lock:
            if self._closed:
                raise ClientError("this lab client is closed")
            if self._idle:
                return self._idle.pop(), True
        conn = self._open()
        with self._lock:
            self._open_conns.add(conn[0])
        return conn, False

    def _checkin(self, conn: tuple[socket.socket, Any]) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        self._discard(conn[0])

    def _discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_conns.discard(sock)
        sock.close()

    def _stream(self, sock: socket.socket, rfile) -> Iterator[dict]:
        try:
            for line in rfile:
                try:
                    yield decode(line)
                except ValueError:
                    continue
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._streams.discard(sock)
            sock.close()

    def _open(self) -> tuple[socket.socket, Any]:
        sock = self._open_socket()
        return sock, sock.makefile("rb")

    def _open_socket(self) -> socket.socket:
        path = self.paths.socket
        try:
            st = path.lstat()  # a link planted by another user is theirs, not the service's
        except FileNotFoundError:
            raise ServiceUnavailable(f"no lab service runs for {self.paths.db}") from None
        if st.st_uid != os.getuid():
            from .safefiles import user_name
            raise ClientError(f"{path} belongs to {user_name(st.st_uid)}, not you; refusing "
                              "to talk to it (remove it, or use another --db)")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(str(path))
        except OSError as err:
            sock.close()
            raise ServiceUnavailable(f"no lab service answers on {path} ({err.strerror or err})"
                                     ) from None
        try:  # the path may have been swapped since the check above: ask the kernel
            check_server(sock, path)
        except BaseException:
            sock.close()
            raise
        return sock


def check_server(sock: socket.socket, path) -> None:
    """Refuse a connected socket whose server runs as another user (Linux: SO_PEERCRED; the
    server checks its clients the same way). Elsewhere the socket's owner and 0600 mode
    are the guard."""
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        from .safefiles import user_name
        raise ClientError(f"the server on {path} runs as {user_name(uid)}, not you; refusing "
                          "to talk to it (another user may have swapped the socket: remove "
                          "it, or use another --db)")


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a connected Unix socket, None where the
    platform does not say."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    import struct
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def service_running(db_path: str | os.PathLike) -> bool:
    try:
        with ServiceClient(db_path) as client:
            client.request("ping")
        return True
    except ClientError:
        return False


def connect(db_path: str | os.PathLike, autostart: bool = True) -> LabClient:
    """A client for db_path: the running service's; with autostart, a new service's; else a
    DirectClient that reads the file itself (read-only)."""
    try:
        return _checked(ServiceClient(db_path))
    except ServiceUnavailable:
        pass
    if autostart:
        from .launch import AlreadyRunning, start_service
        try:
            start_service(db_path)
        except AlreadyRunning:
            pass  # another client started it a moment ago
        return _wait_for(db_path)
    from ..client import DirectClient
    return DirectClient(Path(db_path))


def _checked(client: ServiceClient) -> ServiceClient:
    try:
        client.request("ping")
    except ClientError:
        client.close()
        raise
    return client


def _wait_for(db_path, timeout: float = 30.0) -> ServiceClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _checked(ServiceClient(db_path))
        except ServiceUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_service(db_path, timeout: float = 90.0) -> str:
    """Ask the service to stop and wait until its process is gone; a line saying what
    happened."""
    paths = ServicePaths.of(db_path)
    try:
        client = ServiceClient(paths.db)
    except ServiceUnavailable:
        return f"no lab service runs for {paths.db}"
    try:
        pid = client.request("ping")["pid"]
        client.request("stop")
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        raise ClientError(f"the lab service (pid {pid}) did not stop within {timeout:.0f} s; "
                          f"see {paths.log}, or end it with `kill {pid}`")
    return f"stopped the lab service for {paths.db} (pid {pid})"
