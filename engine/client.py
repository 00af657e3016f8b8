"""The lab's client API: what the CLI and the TUI may call (the TUI imports nothing else).

`LabClient` is the contract. `DirectClient` serves reads straight from the file when no
lab service runs; the service's client (engine/service) implements the same methods over
the local socket and adds submit/cancel/events.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol


class ClientError(Exception):
    """A request the lab refused; the message is one line for the user."""


class LabClient(Protocol):
    def sql(self, query: str, limit: int | None = None, timeout: float | None = None,
            max_rows: int | None = None) -> tuple[list[str], list[list]]: ...

    def interrupt(self) -> int: ...

    def read(self, name: str, **params) -> Any: ...

    def status(self) -> dict: ...

    def submit(self, config: dict, preset: str | None = None, quick: bool = False,
               name: str | None = None) -> int: ...

    def cancel(self, experiment_id: int) -> str: ...

    def events(self) -> Iterator[dict]: ...

    def close(self) -> None: ...


class DirectClient:
    """Reads from the DuckDB file itself (read-only); training needs the service."""

    def __init__(self, db_path: str | Path):
        self._path = Path(db_path)
        self._opened = None
        if not self._path.exists():
            self._store  # noqa: B018 - raises the usual "no database at ..." now

    @property
    def _store(self):
        # Opened at first use: a query the guard refuses never loads the store's modules.
        if self._opened is None:
            from moelab.db import open_read_only
            self._opened = open_read_only(self._path)
        return self._opened

    def sql(self, query: str, limit: int | None = None, timeout: float | None = None,
            max_rows: int | None = None) -> tuple[list[str], list[list]]:
        from moelab.db import check_read_only, run_read_query
        check_read_only(query)
        from moelab.db.reads import plain
        names, rows = run_read_query(self._store, query, limit=limit, timeout=timeout,
                                     max_rows=max_rows)
        return names, [[plain(v) for v in r] for r in rows]

    def interrupt(self) -> int:
        """Stop the user queries this process is running (other threads')."""
        from moelab.db.userquery import interrupt_all
        return interrupt_all("interrupted by its user")

    def read(self, name: str, **params) -> Any:
        from moelab.db.reads import read
        return read(self._store, name, **params)

    def status(self) -> dict:
        from moelab.db.reads import read
        return {"service": None, "experiments": read(self._store, "experiments")}

    def submit(self, config, preset=None, quick=False, name=None) -> int:
        raise ClientError("no lab service is running for this database; start one with "
                          "`moelab engine start`")

    def cancel(self, experiment_id: int) -> str:
        raise ClientError("no lab service is running for this database")

    def events(self) -> Iterator[dict]:
        return iter(())

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
