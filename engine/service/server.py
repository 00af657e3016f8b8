"""The socket side of the service: a Unix socket only its owner can use, a thread per client.

Authentication is the file system's: the socket is created with mode 0600 (umask during
bind, then chmod), and on Linux every connection's peer uid is checked (SO_PEERCRED), so
another user cannot talk to the service even through a looser parent directory.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import socketserver
import struct
from typing import TYPE_CHECKING

from .protocol import MAX_REQUEST, ProtocolError, encode, parse_request

if TYPE_CHECKING:
    from .core import LabService

log = logging.getLogger("moelab.service")

SEND_TIMEOUT = 10.0  # a streaming client that takes longer to accept an event is dropped


class LabServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, path: str, service: LabService):
        self.service = service
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
                log.info("refused a request: %s", err)
                if not _send(sock, {"ok": False, "error": str(err)}):
                    return
                continue
            if op == "events":
                if _send(sock, {"ok": True, "result": "subscribed"}):
                    self.stream(sock)
                return
            if not _send(sock, service.handle(op, args)):
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
