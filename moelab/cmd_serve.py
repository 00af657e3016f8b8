"""`moelab serve`: the lab in a browser tab (textual-serve), on loopback only.

Every tab starts its own `moelab` app process, a client of the database's one lab service
like a terminal, so several tabs work at once. The server listens on 127.0.0.1 (reach it
from elsewhere with an SSH tunnel) and asks for a secret token: the printed URL carries it,
the first page sets it as a same-site cookie, and the terminal's websocket is refused
without it, so another user of the machine cannot open the lab by guessing the port.
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import sys

from moelab.cmdline import add_db, db_path

HOST = "127.0.0.1"
COOKIE = "moelab_token"


def register(sub, groups) -> None:
    s = sub.add_parser("serve", help="serve the lab to a browser tab on 127.0.0.1 "
                       "(textual-serve); every tab is a client of the same lab service")
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (8000)")
    add_db(s)
    s.set_defaults(func=serve)


def app_command(db) -> str:
    """The shell command each tab runs: this Python, this moelab, this database. -P keeps
    the server's current folder off sys.path: anyone who can write there must not get code
    run by every tab."""
    return f"{shlex.quote(sys.executable)} -P -m moelab.cli --db {shlex.quote(str(db))}"


def make_server(db, port: int, token: str):
    from aiohttp import web
    from textual_serve.server import Server

    class TokenServer(Server):
        """textual-serve with a token: the page sets it as a cookie, the websocket needs it."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self._check_token)
            return app

        @web.middleware
        async def _check_token(self, request: web.Request, handler):
            if request.path.startswith("/static/"):
                return await handler(request)
            given = request.query.get("token") or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden(text="moelab serve: open the URL it printed "
                                             "(with ?token=…)")
            origins = (None, self.public_url, f"http://localhost:{port}")
            if request.path == "/ws" and request.headers.get("Origin") not in origins:
                raise web.HTTPForbidden(text="moelab serve: websocket from another origin")
            response = await handler(request)
            if request.query.get("token"):
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response

    return TokenServer(app_command(db), host=HOST, port=port, title="moelab")


def serve(args) -> int:
    from moelab.errors import UsageError
    if not 0 < args.port < 65536:
        raise UsageError("--port must be between 1 and 65535")
    db = db_path(args).absolute()
    # One lab service for every tab: start it now rather than let the first tabs race.
    from moelab.engine.service.client import connect
    connect(db, autostart=True).close()
    token = secrets.token_urlsafe(24)
    server = make_server(db, args.port, token)
    sys.stderr.write(
        f"moelab serve: the lab on {db}\n  open http://{HOST}:{args.port}/?token={token}\n"
        f"  from another machine: ssh -L {args.port}:{HOST}:{args.port} THIS_HOST, then open "
        "the same URL there\n  Ctrl-C stops serving (training goes on in the lab service)\n")
    sys.stderr.flush()
    server.serve()
    return 0
