"""The custom-metric registry and stored values, from a client: through the lab service when
it holds the file, else by opening the file itself (the same rule as every write)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def _writer(db_path) -> Iterator[tuple[str, Any]]:
    """("service", client) when a service answers, else ("store", an open Store)."""
    from moelab.engine.service.client import ServiceClient, ServiceUnavailable
    try:
        client = ServiceClient(db_path)
        client.request("ping")
    except ServiceUnavailable:
        client = None
    if client is not None:
        with client:
            yield "service", client
        return
    from moelab.db import open_store
    with open_store(db_path) as store:
        yield "store", store


def registry(db_path) -> list[dict]:
    """The registered metrics (name, target, options, path); [] for a file without any."""
    from moelab.engine.service.client import connect
    if not os.path.exists(db_path):
        return []
    client = connect(db_path, autostart=False)
    try:
        return client.read("metric_registry")
    except Exception as err:  # a file from before the registry (migration 5) has none
        from moelab.db import StoreError
        if isinstance(err, StoreError) and "metric_registry" in str(err):
            return []
        raise
    finally:
        client.close()


def with_registered(cfg, db_path):
    """cfg with the registry's metrics in train.metrics (a foreground `moelab run`)."""
    from moelab.engine.custom_metrics import with_metrics
    return with_metrics(cfg, registry(db_path))


def add(db_path, name: str, target: str, options: dict, path: str) -> None:
    with _writer(db_path) as (kind, w):
        if kind == "service":
            w.request("metric_add", name=name, target=target, options=options, path=path)
        else:
            from moelab.db.metric_store import add_metric
            add_metric(w, name, target, options, path)


def remove(db_path, name: str) -> bool:
    with _writer(db_path) as (kind, w):
        if kind == "service":
            return bool(w.request("metric_remove", name=name))
        from moelab.db.metric_store import remove_metric
        return remove_metric(w, name)


def store_values(db_path, name: str, run_ids: Sequence[int], values: dict,
                 errors: dict) -> int:
    with _writer(db_path) as (kind, w):
        if kind == "service":
            return int(w.request("metric_store", name=name, run_ids=list(run_ids),
                                 values=values, errors=errors))
        from moelab.db.metric_store import store_metric_values
        return store_metric_values(w, name, run_ids, values, errors)
