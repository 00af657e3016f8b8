"""Running a user's query: its own cursor, a time limit, a cap on what comes back, and a way
to stop it from another thread.

A user query never holds the store's lock while it runs (it has a cursor of its own, with its
own transaction, always rolled back), so training and other clients go on beside it. Every
running user query is registered by the thread that runs it: the service interrupts the
query of a request whose client hung up, and all of them when it stops.

Limits (environment of the process that runs the query; for the service, of the
`moelab engine start` that started it):
  MOELAB_SQL_TIMEOUT   seconds a query may run (default 60)
  MOELAB_SQL_MAX_ROWS  rows a result may have (default 100000); more is refused, not cut
  MOELAB_SQL_MAX_MB    megabytes a result may take as JSON, roughly (default 64)
  MOELAB_SQL_EXPORT_TIMEOUT  seconds an export (`moelab export data`) may run (default 1800)
  MOELAB_SQL_MEMORY    memory a query may take ("2GB", "25%"; default a quarter of RAM),
                       held by DuckDB's memory_limit and a watchdog (db/sqlmemory.py)
  MOELAB_SQL_MAX_CHARS characters a query's text may have (default 100000; db/readonly.py)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import duckdb

from .errors import QueryRefused, StoreError, one_line, wrap
from .readonly import check_read_only
from .sqlmemory import WATCHDOG, sql_memory

if TYPE_CHECKING:
    from .store import Store

FETCH_ROWS = 2048  # rows fetched at a time while counting against the caps
_SAMPLE = 16  # rows of each fetch measured as JSON to estimate the result's size
T = TypeVar("T")


@dataclass(frozen=True)
class QueryLimits:
    timeout: float = 60.0
    max_rows: int = 100_000
    max_bytes: int = 64 << 20
    export_timeout: float = 1800.0

    @classmethod
    def from_env(cls) -> QueryLimits:
        return cls(timeout=_env_number("MOELAB_SQL_TIMEOUT", cls.timeout, float),
                   export_timeout=_env_number("MOELAB_SQL_EXPORT_TIMEOUT", cls.export_timeout,
                                              float),
                   max_rows=_env_number("MOELAB_SQL_MAX_ROWS", cls.max_rows, int),
                   max_bytes=_env_number("MOELAB_SQL_MAX_MB", cls.max_bytes >> 20, int) << 20)


class QueryInterrupted(StoreError):
    """A user query stopped before it finished: time limit, client gone, service stopping."""


class UserQuery:
    """One guarded query. run() in one thread; interrupt() from any other."""

    def __init__(self, store_or_con: Store | duckdb.DuckDBPyConnection, sql: str,
                 limit: int | None = None, timeout: float | None = None,
                 max_rows: int | None = None):
        defaults = QueryLimits.from_env()
        self.sql = sql
        self.limit = None if limit is None else _whole(limit, "limit", minimum=0)
        self.timeout = defaults.timeout if timeout is None else _positive(timeout, "timeout")
        self.max_rows = defaults.max_rows if max_rows is None else _whole(max_rows, "max_rows")
        self.max_bytes = defaults.max_bytes
        self.memory = sql_memory()
        self._source = store_or_con
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._why: str | None = None
        self._lock = threading.Lock()

    def run(self) -> tuple[list[str], list[tuple]]:
        """The result's column names and rows (at most `limit`, and within the caps)."""
        with self._session() as cursor:
            result = cursor.execute(self.sql)
            names = [d[0] for d in result.description] if result.description else []
            return names, self._fetch(result)

    def stream(self, consume: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """consume(cursor) under the same guard, time limit and interrupts, for callers that
        read the whole result in batches themselves (exports); no row cap."""
        with self._session() as cursor:
            return consume(cursor)

    @contextlib.contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        store = hasattr(self._source, "_cursor")  # a Store, else a bare connection
        check_read_only(self.sql, self._source.path.stem if store else None)
        cursor = self._source._cursor() if store else self._source.cursor()
        with self._lock:
            self._cursor = cursor
        timer = threading.Timer(self.timeout, self.interrupt, [
            f"it ran past the {self.timeout:g} s limit; narrow it (WHERE, LIMIT) or allow "
            "more time (--timeout, MOELAB_SQL_TIMEOUT)"])
        timer.daemon = True
        _RUNNING.add(self)
        timer.start()
        WATCHDOG.watch(self, self.memory)
        try:
            cursor.begin()
            try:
                yield cursor
            finally:
                with contextlib.suppress(duckdb.Error):
                    cursor.rollback()
        except Exception as err:  # an interrupted Arrow stream (exports) raises its own type
            if self._why is not None:
                raise QueryInterrupted(f"the query was stopped: {self._why}") from None
            if isinstance(err, duckdb.OutOfMemoryException):
                raise QueryRefused(
                    f"the query needs more than the {self.memory >> 20} MB of memory a query may "
                    "take (MOELAB_SQL_MEMORY); narrow it (WHERE, LIMIT, fewer columns)") from None
            if isinstance(err, duckdb.Error):
                raise wrap(err, "query") from err
            raise
        finally:
            timer.cancel()
            WATCHDOG.forget(self)
            _RUNNING.discard(self)
            with self._lock:
                self._cursor = None
            cursor.close()

    def interrupt(self, why: str) -> bool:
        """Stop the query if it runs; True when there was one to stop."""
        with self._lock:
            if self._cursor is None:
                return False
            self._why = self._why or why
            with contextlib.suppress(duckdb.Error):
                self._cursor.interrupt()
            return True

    def _fetch(self, result: duckdb.DuckDBPyConnection) -> list[tuple]:
        # Rows come in small batches from DuckDB's stream, so a huge result is refused after
        # the cap plus one batch, not after being built whole.
        want = self.max_rows + 1 if self.limit is None else min(self.limit, self.max_rows + 1)
        rows: list[tuple] = []
        size = 0
        while len(rows) < want:
            batch = result.fetchmany(min(FETCH_ROWS, want - len(rows)))
            if not batch:
                break
            rows += batch
            size += _json_size(batch)
            if size > self.max_bytes:
                raise QueryRefused(
                    f"the result is larger than {self.max_bytes >> 20} MB (MOELAB_SQL_MAX_MB); "
                    "select fewer columns or rows, or write it to a file with "
                    "`moelab export data`")
        if self.limit is None and len(rows) > self.max_rows:
            raise QueryRefused(
                f"the result has more than {self.max_rows} rows (MOELAB_SQL_MAX_ROWS); add a "
                "LIMIT or an aggregate, or write it to a file with `moelab export data`")
        if self.limit is not None and self.limit > self.max_rows:
            rows = rows[:self.max_rows]
        return rows


class _Registry:
    """The user queries running in this process, by the thread that runs each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: dict[int, UserQuery] = {}
        self._idle = threading.Condition(self._lock)

    def add(self, query: UserQuery) -> None:
        with self._lock:
            self._queries[threading.get_ident()] = query

    def discard(self, query: UserQuery) -> None:
        with self._lock:
            for ident, q in list(self._queries.items()):
                if q is query:
                    del self._queries[ident]
            self._idle.notify_all()

    def interrupt_thread(self, ident: int, why: str) -> bool:
        with self._lock:
            query = self._queries.get(ident)
        return query.interrupt(why) if query is not None else False

    def interrupt_all(self, why: str, wait: float = 0.0) -> int:
        """Interrupt every running query; wait up to `wait` seconds for them to end."""
        with self._lock:
            queries = list(self._queries.values())
        for q in queries:
            q.interrupt(why)
        with self._lock:
            self._idle.wait_for(lambda: not self._queries, timeout=wait)
        return len(queries)

    def count(self) -> int:
        with self._lock:
            return len(self._queries)


_RUNNING = _Registry()
interrupt_thread = _RUNNING.interrupt_thread
interrupt_all = _RUNNING.interrupt_all
running_count = _RUNNING.count


def _json_size(batch: list[tuple]) -> int:
    sample = batch[:_SAMPLE]
    try:
        measured = len(json.dumps(sample, default=str))
    except (TypeError, ValueError):
        measured = len(repr(sample))
    return measured * len(batch) // max(len(sample), 1)


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StoreError(f"{name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise StoreError(f"{name} must be a number above 0 (got {raw})")
    return kind(value)


def _whole(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise QueryRefused(f"{what} must be a whole number, not {one_line(repr(value))}")
    if value < minimum:
        raise QueryRefused(f"{what} must be at least {minimum}")
    return int(min(value, 1 << 62))  # a huge limit means no limit below the caps


def _positive(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise QueryRefused(f"{what} must be a number of seconds above 0")
    return float(min(value, 7 * 24 * 3600))


def run_read_query(
    store_or_con: Store | duckdb.DuckDBPyConnection, sql: str, limit: int | None = None,
    timeout: float | None = None, max_rows: int | None = None,
) -> tuple[list[str], list[tuple]]:
    """Guard `sql`, then run it under the time limit and row cap (see db/userquery.py)."""
    return UserQuery(store_or_con, sql, limit=limit, timeout=timeout, max_rows=max_rows).run()
