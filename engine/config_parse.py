"""From text to a raw (TOML-shaped) config dict: TOML files, and the --set/--sweep flags whose
VALUEs are parsed as TOML."""

from __future__ import annotations

import json
import os
import tomllib
from typing import Any

from .config_checks import ConfigError
from .config_sections import _key_problems


def parse_value(text: str) -> Any:
    """Parse a --set/--sweep VALUE as TOML; a bare word falls back to a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text and all(c.isalnum() or c in "_-." for c in text):
            return text
        raise ConfigError([f"cannot read value {text!r}; write it as TOML "
                           "(numbers, \"strings\", [lists], { tables })"]) from None


def _parse_list(text: str) -> list:
    """V1,V2,... as TOML; bare words allowed (model.gating=renorm,switch)."""
    try:
        return tomllib.loads(f"v = [{text}]")["v"]
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
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"config file {path} does not exist"]) from None
    except OSError as e:
        raise ConfigError([f"cannot read config {path}: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path} is not UTF-8 text; a TOML config must be UTF-8"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: TOML syntax error: {e}"]) from None


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
