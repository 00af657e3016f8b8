"""Which lab client to use: the running service's when there is one, else the file itself."""

from __future__ import annotations

from pathlib import Path


def connect(db_path: str | Path):
    """A client of the lab service for this file if one runs, else a read-only DirectClient."""
    try:
        from moelab.engine.service.client import connect as service_connect
    except ModuleNotFoundError as e:  # the service is optional: fall back to the file
        if not (e.name or "").startswith("moelab.engine.service"):
            raise
        from moelab.engine.client import DirectClient
        return DirectClient(db_path)
    return service_connect(db_path, autostart=False)


def is_service(client) -> bool:
    from moelab.engine.client import DirectClient
    return not isinstance(client, DirectClient)
