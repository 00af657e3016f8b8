"""The service's custom-metric requests: the writes `moelab metric` needs while the service
holds the file. Metric functions never run here (user code stays out of the process that
owns the store): the client validates and computes, the service stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import ClientError

if TYPE_CHECKING:
    from .core import LabService


def metric_ops(service: LabService) -> dict:
    """Ops to add to LabService.ops."""
    from moelab.db import metric_store

    def metric_add(name: str, target: str, options: dict | None = None,
                   path: str = "") -> str:
        if not isinstance(options, (dict, type(None))):
            raise ClientError("metric options must be an object")
        metric_store.add_metric(service.store, str(name), str(target), options, str(path))
        return "added"

    def metric_remove(name: str) -> bool:
        return metric_store.remove_metric(service.store, str(name))

    def metric_store_values(name: str, run_ids: list, values: dict, errors: dict) -> int:
        if not isinstance(values, dict) or not isinstance(errors, dict):
            raise ClientError("metric values and errors must be objects of columns")
        return metric_store.store_metric_values(service.store, str(name), run_ids, values,
                                                errors)

    return {"metric_add": metric_add, "metric_remove": metric_remove,
            "metric_store": metric_store_values}


def registered(service: LabService) -> list[dict]:
    """The registry, for submit() to write into a new experiment's config."""
    from moelab.db import reads as db_reads
    return db_reads.read(service.store, "metric_registry")
