"""What every config check shares: the error type, the overflow limits, and the small checks
that word a problem in plain words (the crosscoder config uses them too).

Import ConfigError from moelab.engine.config: the CLI recognises a user mistake by looking it
up there (cli.is_user_error), so that module must be loaded wherever one can be raised.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Beyond these the float32 training overflows to inf/NaN at the first step.
MAX_LR = 100.0
MAX_MAGNITUDE = 1e6


class ConfigError(ValueError):
    """A user mistake in a config; the message is one line listing every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# ---------------------------------------------------------------- lists <-> tuples

def _freeze(value: Any) -> Any:
    """Lists become tuples so configs stay hashable and immutable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """Tuples back to lists, for JSON and for quoting a value in a message."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- checks

def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_min(name: str, v, lo: int) -> list[str]:
    if not _is_int(v):
        return [f"{name} must be a whole number (got {_show(v)})"]
    if v < lo:
        return [f"{name} must be at least {lo} (got {v})"]
    return []


def _choice(name: str, v, options) -> list[str]:
    if v not in options:
        return [f"{name} = {_show(v)} is not one of: {', '.join(options)}"]
    return []


def _show(v) -> str:
    return json.dumps(_plain(v)) if not isinstance(v, str) else repr(v)


def train_basics(section, counts: tuple[str, ...]) -> list[str]:
    """The [train] checks every family shares: whole counts >= 1, a seed >= 0, and a
    learning rate in (0, MAX_LR]."""
    p = []
    for name in counts:
        p += _int_min(f"train.{name}", getattr(section, name), 1)
    p += _int_min("train.seed", section.seed, 0)
    if not (_is_num(section.lr) and 0 < section.lr <= MAX_LR):
        p.append(f"train.lr must be a number > 0 and at most {MAX_LR:g} "
                 f"(got {_show(section.lr)})")
    return p
