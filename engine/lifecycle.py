"""An experiment's lifecycle: one Status enum and the one place that says which changes
are allowed and how a training outcome ends an experiment.

    queued ──► running ──► done
      │  ▲        │ ├────► failed      (a unit failed on every try; stored units are kept)
      │  │        │ └────► cancelled   (by a user; stored units are kept)
      │  └─ interrupted ◄┘             (the service stopped or died: it resumes at the next
      ▼                                  start with the units not yet stored)
   cancelled
Who trains a running experiment is its `owner` column (the service, or a foreground
`moelab run`: owners.py), never a message to parse.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


FINISHED = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})
WAITING = frozenset({Status.QUEUED, Status.INTERRUPTED})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.INTERRUPTED: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.RUNNING, Status.DONE, Status.FAILED, Status.CANCELLED,
                               Status.INTERRUPTED}),
    Status.DONE: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class LifecycleError(ValueError):
    """A status change the lifecycle does not allow."""


def check(old: str, new: str) -> Status:
    """The new status, if an experiment in `old` may move to it."""
    old_s, new_s = Status(old), Status(new)
    if new_s not in _ALLOWED[old_s]:
        raise LifecycleError(f"an experiment that is {old_s} cannot become {new_s}")
    return new_s


def ended(outcome: str, stop_reason: str | None) -> Status:
    """How a training outcome ("done", "cancelled", "failed") ends the experiment; a stop of
    the service (stop_reason "stop") interrupts it, a user's cancel cancels it."""
    if outcome == "done":
        return Status.DONE
    if outcome == "cancelled" or stop_reason is not None:
        return Status.INTERRUPTED if stop_reason == "stop" else Status.CANCELLED
    return Status.FAILED
