"""Opening the DuckDB file: friendly errors for the usual failures, then migrations."""

from __future__ import annotations

import os
import pathlib
import re

import duckdb

from . import wal
from .clock import utc_now
from .errors import StoreError, StoreLocked, one_line, wrap
from .filemodes import apply_umask, check_regular, check_writable_target
from .migrations import BOOTSTRAP, LATEST, MIGRATIONS
from .paths import check_parent
from .sqlmemory import duckdb_size, sql_memory
from .store import Store

# The first wall around user SQL (the guard in readonly.py is the second): DuckDB itself may
# not touch any file but this database (and its WAL and spill folder), fetch or load
# extensions, or read Python variables as tables, and no statement may change that later.
# moelab's own writes register Arrow tables, which need none of it. Threads and memory are
# shared by every query of the process, so a user's query leaves room for training.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
           "python_enable_replacements": False, "enable_external_access": False,
           "lock_configuration": True}

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def open_store(path: str | os.PathLike[str], read_only: bool = False) -> Store:
    """Open (writable: create and migrate) the moelab database at `path`."""
    path = pathlib.Path(path).expanduser().absolute()
    if read_only and not path.exists():
        raise StoreError(f"no database at {path}; run `moelab run PRESET` first to create one")
    check_parent(path)
    check_regular(path)  # a FIFO would hang DuckDB's open
    if not read_only:
        check_writable_target(path)
        apply_umask()  # the file, its WAL and spill folder are born 0600/0700
    before = wal.snapshot(path)
    damage = wal.problem(wal.wal_path(path)) if before else None
    con = _connect(path, read_only)
    if damage and wal.snapshot(path) == before:  # what DuckDB just read: nobody wrote since
        # Copied before our first write (the migrations below) overwrites the log.
        copy = wal.keep_copy(path, make=not read_only)
        wal.warn_partial(path, damage, copy)
        if copy is not None and not read_only:
            _replace_log(con)
    try:
        prepare_schema(con, path, read_only)
    except BaseException:
        con.close()
        raise
    return Store(con, path, read_only)


def _connect(path: pathlib.Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
    except duckdb.Error as err:
        if "replaying WAL" in str(err):  # DuckDB refused the log: keep it, say how to go on
            reason = one_line(str(err)).rsplit('": ', 1)[-1]
            copy = wal.keep_copy(path, make=not read_only)
            raise StoreError(wal.refused_message(path, reason, copy)) from None
        raise _open_error(path, err) from err


def _replace_log(con: duckdb.DuckDBPyConnection) -> None:
    """Once the damaged log is kept aside, let DuckDB write a fresh one (a checkpoint after a
    change), so that later opens do not meet the damage again. Harmless if it fails: the
    next write replaces the log anyway."""
    try:
        con.execute("CREATE TABLE moelab_wal_reset (i INTEGER)")
        con.execute("DROP TABLE moelab_wal_reset")
        con.execute("CHECKPOINT")
    except duckdb.Error:
        pass


def duckdb_config() -> dict:
    """_CONFIG plus the thread and memory budget (MOELAB_DB_THREADS, MOELAB_DB_MEMORY)."""
    threads = os.environ.get("MOELAB_DB_THREADS") or str(max(1, (os.cpu_count() or 2) // 2))
    # MOELAB_SQL_MEMORY (default a quarter of the machine) is a user query's budget
    # (db/sqlmemory.py), so DuckDB gets it too, and the configuration lock makes it hold.
    memory = os.environ.get("MOELAB_DB_MEMORY") or duckdb_size(sql_memory())
    if not threads.isdigit() or int(threads) < 1:
        raise StoreError(f"MOELAB_DB_THREADS={threads!r} is not a whole number of threads")
    return {**_CONFIG, "threads": int(threads), "memory_limit": memory}


def _open_error(path: pathlib.Path, err: duckdb.Error) -> StoreError:
    text = str(err)
    if "not a valid DuckDB database" in text:
        return StoreError(f"{path} is not a DuckDB database; pass another --db or move it away")
    if "Could not set lock" in text:
        holder = _LOCK_HOLDER.search(text)
        who = f" (pid {holder['pid']}, {holder['prog']})" if holder else ""
        return StoreLocked(
            f"{path} is locked by another process{who}; it is probably a running moelab "
            "service: use it, or stop it with `moelab engine stop`"
        )
    if "different configuration" in text:
        return StoreError(
            f"{path} is already open in this process in another mode (read-only vs writable); "
            "reuse that store instead of opening it again"
        )
    return StoreError(f"cannot open {path}: {one_line(text)}")


def prepare_schema(con: duckdb.DuckDBPyConnection, path: pathlib.Path, read_only: bool) -> None:
    """Bring a writable file up to date; check a read-only one can be read as it is."""
    try:
        applied = _applied_versions(con)
        if applied is None:
            if _has_user_objects(con):
                raise StoreError(
                    f"{path} is a DuckDB database but not a moelab one (no schema_migrations "
                    "table); pass another --db"
                )
            if read_only:
                raise StoreError(f"{path} is an empty database; run `moelab run PRESET` first")
            applied = set()
        newest = max(applied, default=0)
        missing = [(n, sql) for n, sql in MIGRATIONS if n not in applied]
        if newest > LATEST and not read_only:
            raise StoreError(
                f"{path} was written by a newer moelab (schema {newest}, this one knows "
                f"{LATEST}); upgrade moelab to write to it"
            )
        if missing and read_only:
            raise StoreError(
                f"{path} has an older schema (version {newest}, current {LATEST}); open it once "
                f"writable (e.g. `moelab engine start --db {path}`) to upgrade it"
            )
        if not read_only:
            apply_migrations(con)
    except duckdb.Error as err:
        raise wrap(err, f"checking the schema of {path}") from err


def apply_migrations(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> list[int]:
    """Apply the missing migrations (up to `upto`), each in its own transaction."""
    con.execute(BOOTSTRAP).fetchall()
    applied = _applied_versions(con) or set()
    done = []
    for number, sql in MIGRATIONS:
        if number in applied or (upto is not None and number > upto):
            continue
        con.begin()
        try:
            con.execute(sql).fetchall()
            con.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                [number, utc_now()],
            ).fetchall()
            con.commit()
        except BaseException:
            con.rollback()
            raise
        done.append(number)
    return done


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int] | None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return None
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def _has_user_objects(con: duckdb.DuckDBPyConnection) -> bool:
    count = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()) "
        "+ (SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() "
        "AND NOT internal)"
    ).fetchall()[0][0]
    return count > 0
