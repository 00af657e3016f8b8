"""Reads the lab service needs: the queue, what runs, what finished last.

The experiments table is the queue (status 'queued', or 'interrupted' when a run was cut
off), so the queue survives restarts. These are plain functions for the service and named
reads for clients that read the file directly when no service runs.
"""

from __future__ import annotations

from ..registry import register_read, rows_as_dicts
from ..store import Store

# The order the queue runs in: oldest first, interrupted experiments with the rest.
_WAITING = "status IN ('queued', 'interrupted')"
_LIST = ("experiment_id, name, preset, quick, status, message, device, progress, owner, "
         "n_runs, runs_stored, n_units, units_stored, created_at, "
         "started_at, finished_at")


def next_waiting(store: Store) -> dict | None:
    """The experiment the queue runs next, with its stored config; None when idle."""
    names, rows = store.query(
        f"SELECT experiment_id, name, preset, status, config FROM experiments "
        f"WHERE {_WAITING} ORDER BY experiment_id LIMIT 1")
    return rows_as_dicts(names, rows)[0] if rows else None


@register_read("service_queue")
def queue(store: Store, limit: int = 1000) -> list[dict]:
    """Experiments waiting to run, in the order they will run."""
    names, rows = store.query(
        f"SELECT {_LIST} FROM experiments WHERE {_WAITING} ORDER BY experiment_id LIMIT ?",
        [int(limit)])
    return rows_as_dicts(names, rows)


@register_read("service_running")
def running(store: Store) -> list[dict]:
    """Experiments marked running (by the service or by a foreground `moelab run`)."""
    names, rows = store.query(
        f"SELECT {_LIST} FROM experiments WHERE status = 'running' ORDER BY experiment_id")
    return rows_as_dicts(names, rows)


@register_read("service_recent")
def recent(store: Store, limit: int = 5) -> list[dict]:
    """The latest finished experiments (done, failed, cancelled), newest first."""
    names, rows = store.query(
        f"SELECT {_LIST} FROM experiments WHERE status IN ('done', 'failed', 'cancelled') "
        "ORDER BY finished_at DESC NULLS LAST, experiment_id DESC LIMIT ?", [int(limit)])
    return rows_as_dicts(names, rows)


@register_read("service_counts")
def counts(store: Store) -> dict[str, int]:
    """Number of experiments in each status."""
    _, rows = store.query("SELECT status, count(*) FROM experiments GROUP BY status")
    return {status: int(n) for status, n in rows}
