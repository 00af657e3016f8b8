"""Train units in one spawned worker process on this machine (the lab service's default).

The worker lives for one run() (one experiment) and trains its units one after another;
the next unit is sent before the finished one is handed on, so storing overlaps training.
A worker that dies (killed, out of memory) or a unit that raises is retried in a fresh
worker, up to MAX_TRIES; then the unit fails and run() returns "failed".
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence

from ..plan import Unit
from ..unit import UnitResult
from .base import MAX_TRIES, Event, Outcome, UnitDone, UnitFailed, UnitProgress

log = logging.getLogger("moelab.service")

CANCEL_GRACE = 20.0  # seconds a worker gets to stop at its next step before it is killed


class LocalExecutor:
    name = "local"

    def __init__(self, log_path: str | None = None):
        self._ctx = multiprocessing.get_context("spawn")
        self._log_path = log_path
        self.worker_pid: int | None = None  # the live worker's, for status

    def run(self, units: Sequence[Unit], on_event: Callable[[Event], None],
            cancel: Callable[[], bool]) -> Outcome:
        pending = deque(units)
        tries: dict[int, int] = {}
        worker: _Worker | None = None
        current: Unit | None = None
        try:
            while pending or current is not None:
                if cancel():
                    return "cancelled"
                if worker is None:
                    worker = _Worker(self._ctx)
                    self.worker_pid = worker.proc.pid
                if current is None:
                    current = pending.popleft()
                    worker.send(current)
                kind, value = worker.wait(on_event, cancel)
                if kind == "done":
                    finished, current = current, None
                    if pending and not cancel():  # keep the worker busy while we store
                        current = pending.popleft()
                        worker.send(current)
                    on_event(UnitDone(finished, value))
                    continue
                if kind == "cancelled":
                    return "cancelled"
                worker.stop()
                worker = None
                tries[current.index] = tries.get(current.index, 0) + 1
                reason = value if kind == "error" else died_message(value, self._log_path)
                log.warning("unit %s of experiment %s: %s (try %d of %d)", current.index,
                            current.experiment_id, reason, tries[current.index], MAX_TRIES)
                if tries[current.index] >= MAX_TRIES:
                    on_event(UnitFailed(current, reason))
                    return "failed"
                pending.appendleft(current)
                current = None
            return "done"
        finally:
            self.worker_pid = None
            if worker is not None:
                worker.stop()

    def close(self) -> None:
        pass


class _Worker:
    def __init__(self, ctx):
        from ..safepath import spawning_without_cwd
        from .worker import serve
        # no module of the current folder runs in the worker, nor in multiprocessing's
        # resource tracker that the Event starts
        with spawning_without_cwd():
            self.conn, child = ctx.Pipe(duplex=True)
            self.cancel = ctx.Event()
            self.proc = ctx.Process(target=serve, args=(child, self.cancel), daemon=True,
                                    name="moelab-worker")
            self.proc.start()
        child.close()

    def send(self, unit: Unit) -> None:
        self.conn.send_bytes(b"U" + unit.to_json().encode())

    def wait(self, on_event, cancel) -> tuple[str, object]:
        """Until the unit in hand ends: ("done", UnitResult), ("cancelled", None),
        ("error", text) or ("died", exitcode)."""
        stop_at = None
        while True:
            if cancel() and stop_at is None:
                self.cancel.set()
                stop_at = time.monotonic()
            if stop_at is not None and time.monotonic() - stop_at > CANCEL_GRACE:
                return "cancelled", None
            try:
                ready = self.conn.poll(0.2)
                msg = self.conn.recv_bytes() if ready else None
            except (EOFError, OSError):
                msg = None
                ready = False
            if msg is None:
                if not self.proc.is_alive() or ready:
                    self.proc.join(1.0)
                    return ("cancelled", None) if stop_at is not None \
                        else ("died", self.proc.exitcode)
                continue
            tag, body = msg[:1], msg[1:]
            if tag == b"P":
                p = json.loads(body)
                on_event(UnitProgress(**p))
            elif tag == b"R":
                return "done", UnitResult.from_bytes(body)
            elif tag == b"C":
                return "cancelled", None
            elif tag == b"E":
                return "error", body.decode(errors="replace")

    def stop(self) -> None:
        try:
            self.conn.send_bytes(b"Q")
        except OSError:
            pass
        self.proc.join(5.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def died_message(exitcode: int | None, log_path) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = " (out of memory? the kernel's OOM killer sends SIGKILL)" \
            if name == "SIGKILL" else ""
        return f"the training worker was killed by {name}{why}; see {log_path}"
    return f"the training worker exited with status {exitcode} without a result; see {log_path}"
