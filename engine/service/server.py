"""The socket side of the service: a Unix socket only its owner can use, a thread per client.

Authentication is the file system's: the socket is created with mode 0600 (umask during
bind, then chmod), and on Linux every connection's peer uid is checked (SO_PEERCRED), so
another user cannot talk to the service even through a looser parent directory.

A request whose client hangs up (Ctrl-C in `moelab sql`, a closed TUI) has its user query
interrupted (HangUpWatch); `{"op": "interrupt"}` interrupts every running user query.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from moelab.db.userquery import interrupt_all, interrupt_thread

from .logfile import Throttle
from .protocol import MAX_REQUEST, ProtocolError, encode, parse_request

if TYPE_CHECKING:
    from .core import LabService

log = logging.getLogger("moelab.service")

SEND_TIMEOUT = 10.0  # a streaming client that takes longer to accept an event is dropped
HANGUP_POLL = 0.2  # seconds between looks at the clients whose requests are running


class LabServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    # Connections waiting to be accepted; 5 (the default) dropped 51 of 200 simultaneous
    # clients. The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, path: str, service: LabService):
        self.service = service
        self.watch = HangUpWatch()
        self.refusals = Throttle()
        super().__init__(path, Handler)

    def server_bind(self) -> None:
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            super().server_bind()
        finally:
            os.umask(old)
        os.chmod(self.server_address, 0o600)


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        service = self.server.service
        if not _peer_is_owner(sock):
            _send(sock, {"ok": False, "error": "this lab service belongs to another user"})
            return
        rfile = sock.makefile("rb")
        while True:
            try:
                line = rfile.readline(MAX_REQUEST + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_REQUEST:
                _send(sock, {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes; "
                             "the connection is closed"})
                return
            if not line.strip():
                continue
            try:
                op, args = parse_request(line)
            except ProtocolError as err:
                logged, dropped = self.server.refusals.allow()
                if logged:
                    log.info("refused a request: %s%s", err, f" ({dropped} more refused, not "
                             "logged)" if dropped else "")
                if not _send(sock, {"ok": False, "error": str(err)}):
                    return
                continue
            if op == "events":
                if _send(sock, {"ok": True, "result": "subscribed"}):
                    self.stream(sock)
                return
            if op == "interrupt":
                n = interrupt_all("interrupted by its user")
                _send(sock, {"ok": True, "result": n})
                continue
            if service.stopping.is_set() and op not in ("ping", "status", "stop"):
                reply = {"ok": False, "error": "the lab service is stopping"}
            else:
                with self.server.watch.running(sock):
                    reply = service.handle(op, args)
            if not _send(sock, reply):
                return

    def stream(self, sock: socket.socket) -> None:
        """Events until the client goes away, or reads too slowly, or the service stops."""
        service = self.server.service
        sub = service.hub.subscribe()
        try:
            running = service.scheduler.snapshot()
            if running is not None:
                sub.push({"type": "progress", **running})
            sock.settimeout(SEND_TIMEOUT)
            while not sub.closed:
                events = sub.take(timeout=1.0)
                for event in events:
                    sock.sendall(encode(event))
                if not events and _closed_by_peer(sock):
                    return
        except OSError:  # gone, or too slow (timeout): either way this stream ends
            return
        finally:
            service.hub.unsubscribe(sub)


class HangUpWatch:
    """The sockets whose requests are running, looked at every HANGUP_POLL seconds by one
    thread: when a client hangs up, the user query its request runs is interrupted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[socket.socket, int] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self, sock: socket.socket) -> Iterator[None]:
        with self._lock:
            self._running[sock] = threading.get_ident()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="hangup-watch")
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(sock, None)

    def _loop(self) -> None:
        while True:
            time.sleep(HANGUP_POLL)
            with self._lock:
                running = list(self._running.items())
            for sock, ident in running:
                if _hung_up(sock) and interrupt_thread(ident, "its client went away"):
                    log.info("interrupted a query: its client went away")


def _hung_up(sock: socket.socket) -> bool:
    try:
        poller = select.poll()  # not select(): no limit on descriptor numbers
        poller.register(sock, select.POLLIN | select.POLLHUP)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):  # reset, or closed under us
        return True


def _send(sock: socket.socket, obj: dict) -> bool:
    try:
        sock.sendall(encode(obj))
        return True
    except OSError:
        return False


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096) == b""  # anything a streaming client sends is ignored
    except OSError:
        return True


def _peer_is_owner(sock: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the 0600 mode is the guard where peer credentials are not available
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()
