"""Messages the app sends to its screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class LabStatus(Message):
    """The lab's status changed (a poll answered, or progress arrived)."""

    status: dict


@dataclass
class DataChanged(Message):
    """An experiment changed state: stored results may have changed too."""

    experiment_id: int | None
