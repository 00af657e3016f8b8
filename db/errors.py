"""The one error type the store raises, so callers never see duckdb's classes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: importing errors must not load duckdb (the
    import duckdb  # client path and the umask set on every command import filemodes)


class StoreError(Exception):
    """A store failure with a one-line message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class StoreLocked(StoreError):
    """The file is held by another process (usually the lab service)."""


class QueryRefused(StoreError):
    """A query refused by the read-only guard."""


def one_line(text: str) -> str:
    # duckdb appends "LINE 1: ..." and a caret line; the user needs only the sentence.
    text = text.split("\n\nLINE ", 1)[0]
    return re.sub(r"\s+", " ", text).strip()


class DiskFull(StoreError):
    """The file's disk is full: nothing of the write was stored, and the same write can be
    tried again once space frees (DuckDB recovers)."""


def wrap(err: duckdb.Error, doing: str) -> StoreError:
    """Turn a duckdb error into a StoreError that says what we were doing."""
    text = one_line(str(err))
    if "no space left on device" in text.lower():
        path = re.search(r'write file "([^"]+)"', text)
        where = f" of {path[1]}" if path else ""
        return DiskFull(f"{doing} failed: no space left on the device{where}")
    return StoreError(f"{doing} failed: {text}")
