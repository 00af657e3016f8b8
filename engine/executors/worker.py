"""The local executor's training worker: a spawned process that trains the units it is sent.

Spawned, not forked, so CUDA initialises cleanly and a crash here (an exception, out of
memory, a kill) cannot take the service and its store down. It never opens the database.
Everything on its pipe is bytes with a one-letter tag, never pickle:
  in:  U<unit json>   Q (quit)
  out: P<progress json>   R<UnitResult.to_bytes()>   C (cancelled)   E<error text>
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

PROGRESS_INTERVAL = 0.2  # seconds between progress messages; a unit's last step always goes


def serve(conn, cancel) -> None:
    """Process entry point (multiprocessing 'spawn'): conn is a Pipe end, cancel an Event."""
    _exit_with_parent()
    _yield_to_interactive()
    from ..device import resolve_device
    from ..plan import Unit
    from ..train import Cancelled
    from ..unit import run_unit
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if msg[:1] != b"U":
            return
        try:
            unit = Unit.from_json(msg[1:])
            device = resolve_device(unit.device)
            last = [0.0]

            def progress(p, unit=unit, device=device, last=last) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_INTERVAL or p.step >= p.steps:
                    last[0] = now
                    conn.send_bytes(b"P" + json.dumps({
                        "unit": unit.index, "step": p.step, "steps": p.steps,
                        "n_models": p.n_models, "loss": p.loss, "device": device}).encode())
            try:
                result = run_unit(unit, progress, cancel.is_set)
            except Cancelled:
                conn.send_bytes(b"C")
                return
            conn.send_bytes(b"R" + result.to_bytes())
        except BaseException as err:  # noqa: BLE001 - every failure becomes the unit's reason
            traceback.print_exc()  # to the service log: the worker's stderr is the service's
            conn.send_bytes(b"E" + f"{type(err).__name__}: {err}".strip().encode())


def _yield_to_interactive() -> None:
    """Training takes every core it can get. At the idle priority it still gets them all
    whenever nothing else wants one, but the lab's interface (and the user's shell) get a
    core the moment they ask: on 2 cores, a nice-19 worker still held the interface's frames
    back by 50-140 ms, an idle one by under 35 ms. MOELAB_TRAIN_PRIORITY=low (nice 10) or
    normal keeps training going beside other busy programs. Later threads inherit this."""
    choice = os.environ.get("MOELAB_TRAIN_PRIORITY", "idle").strip().lower()
    if choice not in ("idle", "low", "normal"):
        print(f"moelab: MOELAB_TRAIN_PRIORITY={choice!r} is not idle, low or normal; "
              "training at idle priority", file=sys.stderr)  # to the service log
        choice = "idle"
    try:
        if choice == "idle" and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        elif choice in ("idle", "low"):
            os.nice(10)
    except OSError:  # not permitted here: train at normal priority
        pass


def _exit_with_parent() -> None:
    """If the service dies (kill -9), stop training instead of running on as an orphan."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
