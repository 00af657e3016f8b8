"""Checking the New experiment form off the UI thread, debounced, newest answer wins.

Expanding fig4 at full size (180,960 models) takes seconds; done on the UI thread it froze
typing. Here a keystroke only restarts a short timer. When the timer fires, a thread worker
parses the form and checks it with the engine's own validation; a large sweep is checked in
a helper process instead, so that even the Python lock stays free for the interface.
Answers come back as `Checked` messages tagged with the edit they answer; older ones are
dropped.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from textual.message import Message
from textual.worker import get_current_worker

DEBOUNCE = 0.15  # seconds of quiet before checking
IN_PROCESS_ABOVE = 20_000  # models: larger sweeps are checked in the helper process

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass
class Checked(Message):
    generation: int
    raw: dict | None = None
    models: int = 0
    model_steps: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check(raw: dict, name: str) -> tuple[int, int]:
    """(models, model-steps) of a raw config; raises ConfigError with the CLI's messages."""
    from moelab.engine.config import from_dict
    from moelab.engine.sweep import expand
    runs = expand(from_dict(raw, name=name))
    return len(runs), sum(r.train.steps for r in runs)


def check_plain(raw: dict, name: str) -> tuple[int, int, list[str]]:
    """check() for the helper process: problems as data, not an exception."""
    from moelab.engine.config import ConfigError
    try:
        models, steps = check(raw, name)
    except ConfigError as err:
        return 0, 0, list(err.problems)
    return models, steps, []


def _helper() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            import multiprocessing
            _pool = ProcessPoolExecutor(max_workers=1,
                                        mp_context=multiprocessing.get_context("spawn"))
        return _pool


def shutdown() -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _check_anywhere(raw: dict, name: str) -> tuple[int, int]:
    from moelab.engine.config import ConfigError

    from .form_model import estimate
    if estimate(raw) > IN_PROCESS_ABOVE:
        try:
            future: Future = _helper().submit(check_plain, raw, name)
            models, steps, problems = future.result()
        except (BrokenProcessPool, OSError):  # no helper process here: check in this one
            shutdown()
            return check(raw, name)
        if problems:
            raise ConfigError(problems)
        return models, steps
    return check(raw, name)


class Checker:
    """Owned by a screen; `request()` on every edit, `Checked` arrives on the screen."""

    def __init__(self, screen, delay: float = DEBOUNCE):
        self.screen = screen
        self.delay = delay
        self.generation = 0
        self._timer = None

    def request(self, base: dict, edits: dict[str, str], variants: list[str],
                name: str) -> int:
        self.generation += 1
        if self._timer is not None:
            self._timer.stop()
        gen = self.generation
        self._timer = self.screen.set_timer(
            self.delay, lambda: self._start(gen, base, dict(edits), list(variants), name))
        return gen

    def current(self, message: Checked) -> bool:
        return message.generation == self.generation

    def _start(self, gen: int, base: dict, edits: dict, variants: list, name: str) -> None:
        screen = self.screen

        def work() -> None:
            from moelab.engine.config import ConfigError

            from .form_model import raw_from_form
            t0 = time.perf_counter()
            try:
                raw = raw_from_form(base, edits, variants)
                models, steps = _check_anywhere(raw, name)
                answer = Checked(gen, raw, models, steps, seconds=time.perf_counter() - t0)
            except ConfigError as err:
                answer = Checked(gen, None, problems=list(err.problems),
                                 seconds=time.perf_counter() - t0)
            if not get_current_worker().is_cancelled:
                screen.post_message(answer)

        screen.run_worker(work, thread=True, group="validate", exclusive=True,
                          exit_on_error=False)
