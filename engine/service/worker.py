"""The training worker: a spawned process that runs one experiment and reports back.

Spawned, not forked, so CUDA initialises cleanly and a crash here (an exception, out of
memory, a kill) cannot take the service and its store down. The worker never opens the
database: it sends progress on a queue and leaves its result in a file (results.py).
Messages it sends: ("progress", dict), ("done", summary), ("cancelled",), ("error", text).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

PROGRESS_INTERVAL = 0.2  # seconds between progress messages; the last step always goes out


def work(experiment_id: int, config_text: str, out, cancel, result_path: str) -> None:
    """Process entry point (multiprocessing 'spawn'): out is a Queue, cancel an Event."""
    _exit_with_parent()
    _yield_to_interactive()
    try:
        from dataclasses import asdict

        from ..experiment import run_experiment
        from ..train import Cancelled
        from .configs import config_from_stored
        from .results import save_result, summary_of

        cfg = config_from_stored(config_text)
        last = [0.0]

        def on_progress(p) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or p.work_done >= p.work_total:
                last[0] = now
                out.put(("progress", asdict(p)))

        try:
            result = run_experiment(cfg, None, progress=on_progress, cancel=cancel.is_set)
        except Cancelled:
            out.put(("cancelled",))
            return
        summary = summary_of(result)
        save_result(result_path, result.chunks, summary)
        out.put(("done", summary))
    except BaseException as err:  # noqa: BLE001 - every failure becomes the experiment's reason
        traceback.print_exc()  # to the service log: the worker's stderr is the service's
        out.put(("error", f"{type(err).__name__}: {err}".strip()))


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
