"""Checking the New experiment form off the UI thread, debounced, newest answer wins.

Expanding fig4 at full size (180,960 models) takes seconds; done on the UI thread it froze
typing. Here a keystroke only restarts a short timer. When the timer fires, a thread worker
parses the form and checks it with the engine's own validation. A large sweep is checked in
a helper process instead, so that even the Python lock stays free for the interface, and a
newer edit stops the helper still checking an older one. Answers come back as `Checked`
messages tagged with the edit they answer; older ones are dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from textual.message import Message
from textual.worker import get_current_worker

from .check_process import check

DEBOUNCE = 0.15  # seconds of quiet before checking
IN_PROCESS_ABOVE = 200  # models: larger sweeps are checked in a helper process


@dataclass
class Checked(Message):
    generation: int
    raw: dict | None = None
    models: int = 0
    model_steps: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Superseded(Exception):
    """A newer edit replaced the one being checked."""


class Helper:
    """At most one helper process (tui/check_process.py); a new check stops the one
    before. A plain subprocess with its own pipes: multiprocessing's needs the terminal's
    stderr, which the interface has taken over."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None

    def stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()

    def check(self, raw: dict, name: str, cancelled) -> tuple[int, int, list[str]]:
        self.stop()
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "moelab.tui.check_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with self._lock:
            self._process = process
        try:
            process.stdin.write(json.dumps({"raw": raw, "name": name}))
            process.stdin.close()
            while process.poll() is None:
                if cancelled() or self._process is not process:
                    raise Superseded()
                time.sleep(0.05)
            out, err = process.stdout.read(), process.stderr.read()  # small, and it ended
            if process.returncode != 0:
                raise OSError(f"the form's check failed: {err.strip()[-300:]}")
            answer = json.loads(out)
            return answer["models"], answer["model_steps"], answer["problems"]
        finally:
            with self._lock:
                if self._process is process:
                    self._process = None
            if process.poll() is None:
                process.kill()
                process.wait()


class Checker:
    """Owned by a screen; `request()` on every edit, `Checked` arrives on the screen."""

    def __init__(self, screen, delay: float = DEBOUNCE):
        self.screen = screen
        self.delay = delay
        self.generation = 0
        self.helper = Helper()
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

    def stop(self) -> None:
        self.helper.stop()

    def _start(self, gen: int, base: dict, edits: dict, variants: list, name: str) -> None:
        screen = self.screen

        def work() -> None:
            from moelab.engine.config import ConfigError

            from .form_model import estimate, raw_from_form
            worker = get_current_worker()
            stale = lambda: worker.is_cancelled or gen != self.generation  # noqa: E731
            t0 = time.perf_counter()
            try:
                raw = raw_from_form(base, edits, variants)
                problems: list[str] = []
                if estimate(raw) > IN_PROCESS_ABOVE:
                    try:
                        models, steps, problems = self.helper.check(raw, name, stale)
                    except OSError:  # no helper process here: check in this one
                        models, steps = check(raw, name)
                else:
                    models, steps = check(raw, name)
                if problems:
                    raise ConfigError(problems)
                answer = Checked(gen, raw, models, steps, seconds=time.perf_counter() - t0)
            except ConfigError as err:
                answer = Checked(gen, None, problems=list(err.problems),
                                 seconds=time.perf_counter() - t0)
            except Superseded:
                return
            if not stale():
                screen.post_message(answer)

        screen.run_worker(work, thread=True, group="validate", exclusive=True,
                          exit_on_error=False)
