"""`moelab reproduce` exits 0 after a success on the lab service too (a finished experiment's
message is its summary line, not a problem)."""

from __future__ import annotations

import io

from rich.console import Console

from moelab.figures.reproduce import Outcome, _train_on_service


class FakeService:
    def __init__(self, status: str, message: str):
        self.status, self.message = status, message

    def submit(self, raw, preset=None, quick=False):
        return 7

    def read(self, name, **params):
        assert name == "experiment" and params == {"experiment_id": 7}
        return {"experiment_id": 7, "status": self.status, "message": self.message}


def outcome(status: str, message: str) -> Outcome:
    outcomes = {"fig5": Outcome("fig5")}
    _train_on_service(FakeService(status, message), ["fig5"], True, [], outcomes,
                      Console(file=io.StringIO()))
    return outcomes["fig5"]


def test_done_on_the_service_is_a_success():
    o = outcome("done", "3 runs (3 chosen), eval loss 0.1 .. 0.2, trained in 4 s on cpu")
    assert o.status == "done" and o.message is None  # the exit status counts messages


def test_a_failure_on_the_service_keeps_its_reason():
    o = outcome("failed", "RuntimeError: boom")
    assert o.status == "failed" and o.message == "RuntimeError: boom"
