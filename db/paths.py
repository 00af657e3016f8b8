"""Where the database file lives: --db, then $MOELAB_DB, then ./moelab.duckdb."""

from __future__ import annotations

import os
import pathlib

from .errors import StoreError

DEFAULT_DB = "moelab.duckdb"
ENV_VAR = "MOELAB_DB"


def resolve_db(arg: str | os.PathLike[str] | None) -> pathlib.Path:
    """The path alone, unchecked (a file that does not exist yet is fine); the one resolver
    of the project (the service's clients import it: no duckdb here)."""
    raw = arg if arg not in (None, "") else os.environ.get(ENV_VAR) or DEFAULT_DB
    # Absolute, so the service and its clients agree on one file whatever their cwd.
    return pathlib.Path(raw).expanduser().absolute()


def resolve_db_path(arg: str | os.PathLike[str] | None) -> pathlib.Path:
    path = resolve_db(arg)
    check_parent(path)
    return path


def check_parent(path: pathlib.Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise StoreError(
            f"database directory {parent} does not exist; create it or pass another --db"
        )
