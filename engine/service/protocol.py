"""The wire format: one JSON object per line over the Unix socket.

A request is {"op": NAME, "args": {...}}; its reply is {"ok": true, "result": ...} or
{"ok": false, "error": "one line"}. After {"op": "events"} the connection carries only
event objects, one per line, until either side closes it. See docs/service.md.
Floats that are not finite travel as NaN/Infinity (Python's json reads them back).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

MAX_REQUEST = 4 * 1024 * 1024  # bytes in one request line; configs are far smaller


class ProtocolError(ValueError):
    """A line that is not a request."""


def encode(obj: Any) -> bytes:
    return json.dumps(obj, default=_jsonable, separators=(",", ":"),
                      allow_nan=True).encode() + b"\n"


def decode(line: bytes) -> Any:
    return json.loads(line)


def parse_request(line: bytes) -> tuple[str, dict]:
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("malformed request: send one JSON object per line, "
                            "{\"op\": NAME, \"args\": {...}}") from None
    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
        raise ProtocolError("malformed request: it needs a string \"op\" field")
    args = req.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("malformed request: \"args\" must be an object")
    return req["op"], args


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays, timestamps, anything else as text
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
