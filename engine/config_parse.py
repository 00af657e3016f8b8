"""From text to a raw (TOML-shaped) config dict: TOML files, and the --set/--sweep flags whose
VALUEs are parsed as TOML."""

from __future__ import annotations

import json
import os
import tomllib
from typing import Any

from .config_checks import ConfigError
from .config_sections import _key_problems

# Nesting a config may have: real ones reach 4 (a sweep list of lists in a table); tomllib
# recurses per level and dies with RecursionError near a few hundred.
MAX_DEPTH = 32


def _loads(text: str, what: str) -> dict:
    """tomllib.loads, with too-deep nesting a ConfigError instead of a RecursionError."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        data = None
    if data is None or _too_deep(data):
        raise ConfigError([f"{what} is nested more than {MAX_DEPTH} levels deep "
                           "([[[...]]]); a config is a few tables of plain values"])
    return data


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]  # a loop, not recursion: the value may be nested hundreds deep
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
    return False


def _named(text: str) -> str:
    return f"value {text[:20]}{'…' if len(text) > 20 else ''}"


def parse_value(text: str) -> Any:
    """Parse a --set/--sweep VALUE as TOML; a bare word falls back to a string."""
    try:
        return _loads(f"v = {text}", _named(text))["v"]
    except tomllib.TOMLDecodeError:
        if text and all(c.isalnum() or c in "_-." for c in text):
            return text
        raise ConfigError([f"cannot read value {text!r}; write it as TOML "
                           "(numbers, \"strings\", [lists], { tables })"]) from None


def _parse_list(text: str) -> list:
    """V1,V2,... as TOML; bare words allowed (model.gating=renorm,switch)."""
    try:
        return _loads(f"v = [{text}]", _named(text))["v"]
    except tomllib.TOMLDecodeError:
        pass
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [parse_value(p.strip()) for p in [*parts, cur]]


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError([f"{flag} {text!r} needs the form section.field=VALUE"])
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def load_toml(path) -> dict:
    if os.path.isdir(path):
        raise ConfigError([f"config {path} is a folder; give a TOML file"])
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the read
        raise ConfigError([f"config {path} is not a regular file; give a TOML file"])
    try:
        with open(path, "rb") as fh:
            _check_trusted(path, os.fstat(fh.fileno()))
            text = fh.read().decode()  # what tomllib.load does
        return _loads(text, f"config {path}")
    except FileNotFoundError:
        raise ConfigError([f"config file {path} does not exist"]) from None
    except OSError as e:
        raise ConfigError([f"cannot read config {path}: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path} is not UTF-8 text; a TOML config must be UTF-8"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: TOML syntax error: {e}"]) from None


def _check_trusted(path, st: os.stat_result) -> None:
    """A config's train.metrics name code that runs as you: refuse a file that another user
    owns or can write (checked on the open file, so it cannot be swapped after)."""
    from .usercode import check_config_file
    problem = check_config_file(path, st)
    if problem:
        raise ConfigError([f"config {problem}; a config can name metrics, which are code that "
                           "runs as you: copy it to a file of your own (`cp` it, then "
                           "`chmod o-w` the copy)"])


def with_overrides(raw: dict, sets: list[str] = (), sweeps: list[str] = ()) -> dict:
    """Apply --set section.field=VALUE and --sweep section.field=V1,V2 to a raw config dict."""
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    for text in sets:
        key, value = parse_assignment(text, "--set")
        _check_key(key, "--set")
        section, fld = key.split(".", 1)
        raw.setdefault(section, {})[fld] = parse_value(value)
    for text in sweeps:
        key, value = parse_assignment(text, "--sweep")
        _check_key(key, "--sweep")
        values = _parse_list(value)
        raw.setdefault("sweep", {})[key] = values
    return raw


def _check_key(key: str, flag: str) -> None:
    problems = _key_problems(f"{flag} {key}", key)
    if problems:
        raise ConfigError(problems)
