"""The wire format: one JSON object per line over the Unix socket.

A request is {"op": NAME, "args": {...}}; its reply is {"ok": true, "result": ...} or
{"ok": false, "error": "one line"}. After {"op": "events"} the connection carries only
event objects, one per line, until either side closes it. See docs/service.md.
Floats that are not finite travel as NaN/Infinity (Python's json reads them back).

orjson writes and reads the lines when a reply allows it (15-20x faster than json on the
phase diagram's 2.5 MB of columns); json takes over for what orjson would change: a float
that is not finite (orjson writes null), an int past 64 bits, a key that is not text.
Such a line starts with a space (still JSON), so the reader reads it with json too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

try:
    import orjson
except ImportError:  # a dependency; without it, json does it all, slower
    orjson = None

MAX_REQUEST = 4 * 1024 * 1024  # bytes in one request line; configs are far smaller


class ProtocolError(ValueError):
    """A line that is not a request."""


def encode(obj: Any) -> bytes:
    if orjson is not None and _finite(obj):
        try:
            return orjson.dumps(obj, default=_jsonable, option=_AS_JSON) + b"\n"
        except TypeError:  # big ints, keys that are not text: json's way below
            pass
    return b" " + json.dumps(obj, default=_jsonable, separators=(",", ":"),
                             allow_nan=True).encode() + b"\n"


def decode(line: bytes) -> Any:
    if orjson is not None and not line.startswith(b" "):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:  # a writer without orjson: NaN is json's, not JSON's
            pass
    return json.loads(line)


if orjson is not None:  # what json hands to _jsonable, orjson hands there too
    _AS_JSON = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_PASSTHROUGH_SUBCLASS)

_PLAIN = frozenset({int, float, bool, str, type(None)})


def _finite(obj: Any) -> bool:
    """No float in obj is NaN or infinite. Lists of plain values are checked at C speed:
    fsum of their truthy numbers is finite only when every one of them is."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            kinds = set(map(type, item))
            if kinds <= _PLAIN:
                if float in kinds and not _finite_numbers(item, str in kinds):
                    return False
            else:
                stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return False
        elif hasattr(item, "tolist"):  # numpy: orjson would write what tolist() gives
            stack.append(item.tolist())
    return True


def _finite_numbers(values: list | tuple, has_text: bool) -> bool:
    numbers = [v for v in values if v.__class__ is float] if has_text else filter(None, values)
    try:
        return math.isfinite(math.fsum(numbers))
    except OverflowError:  # finite values whose sum overflows: one by one
        return all(math.isfinite(v) for v in values if isinstance(v, float))
    except ValueError:  # inf + -inf
        return False


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
