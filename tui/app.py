"""The lab's Textual app: one client, eight views, a live feed.

The app talks to the lab only through a client object (engine.client.LabClient), given to
it at construction, so tests run it on a seeded file with a DirectClient or a fake.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from .collector import YOUNG_EVERY, Collector
from .connection import Connection
from .fetch import Fetched, Lab, fetch
from .format import running_line
from .live import ExperimentChanged, LiveFeed, ProgressTick
from .messages import DataChanged, LabStatus
from .read_ahead import IDLE_SECONDS, ReadAhead
from .screens.help import HelpScreen
from .screens.new_experiment import NewExperimentScreen
from .screens.run_detail import RunDetailScreen
from .views import VIEWS

FULL_AFTER_VIEW = 0.5  # seconds after a view change: its full garbage collection
WARM_AFTER = 1.0  # seconds after start: modules the views need, imported in a thread
CSS_AFTER = 0.5  # seconds after start: the built-in widgets' CSS, parsed (tui/css_warm.py)
LOSS_POINTS = 400  # live loss history kept per experiment (thinned when it grows past)



class MoelabApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "moelab"
    MODES = {v.mode: v.screen_class() for v in VIEWS if not v.pushed}
    BINDINGS = [
        *[Binding(v.key, f"show('{v.mode}')", v.title, show=False) for v in VIEWS],
        Binding("q", "back_or_quit", "back/quit", show=False),
        Binding("question_mark", "help", "help"),
        Binding("f1", "help", "help", show=False),
        Binding("f2", "screenshot", "SVG"),
        Binding("f3", "export_figure", "figure"),
    ]

    def __init__(self, client, db_label: str = "", poll_seconds: float = 2.0,
                 export_dir: str | os.PathLike | None = None):
        super().__init__()
        from .screens.export import default_dir
        self.lab = Lab(client)
        self.db_label = db_label
        self.poll_seconds = poll_seconds
        self.export_dir = default_dir(export_dir)
        self.status: dict = {}
        self.running: dict | None = None
        self.loss_history: dict[int, list[tuple[int, float]]] = {}
        self.current_experiment: int | None = None
        self.current_run: int | None = None
        self.marked: set[int] = set()  # runs marked for comparison (space)
        self.connection = Connection()
        self._progress_at = float("-inf")
        self.feed = LiveFeed(self, self.lab)
        self.collector = Collector()
        self._full_timer = None
        self.read_ahead = ReadAhead(self)
        self._spare_new: NewExperimentScreen | None = None  # built while idle (_warm_imports)
        self._modes["new"] = self._new_experiment_screen
        self.opened: set[str] = set()  # the views opened so far (each then keeps its data)
        self._quiet_since = time.monotonic()  # the last view change or change of data
        self._view_changed = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.sub_title = self.db_label
        self.switch_mode("runs")
        self.opened.add("runs")
        self.feed.start()
        self.poll_status()
        self.set_interval(self.poll_seconds, self.poll_status)
        self.call_after_refresh(self.collector.install)
        self.set_interval(YOUNG_EVERY, self._collect_young)
        self.set_timer(WARM_AFTER, self._warm_imports)
        self.set_timer(CSS_AFTER, self._warm_css)
        self.set_interval(IDLE_SECONDS / 2, self.read_ahead_views)

    def _warm_imports(self) -> None:
        """Import the engine's presets (and numpy) in a thread once the first view is up:
        New experiment needs them, and importing them on its opening took 150-400 ms."""
        def work() -> None:
            import moelab.engine.presets  # noqa: F401
            self.call_from_thread(self._build_spare_new)
        self.run_worker(work, thread=True, group="warm", exit_on_error=False)

    def _build_spare_new(self) -> None:
        if "new" not in self.opened:
            self._spare_new = NewExperimentScreen()
            self._spare_new.prepare()

    def _new_experiment_screen(self) -> NewExperimentScreen:
        """The New experiment view's screen: the one built while idle, when there is one."""
        screen, self._spare_new = self._spare_new or NewExperimentScreen(), None
        return screen

    def read_ahead_views(self) -> None:
        """While nothing trains and the user reads a view, make the opening reads of the
        data-heavy views not opened yet, for the current experiment (tui/read_ahead.py)."""
        if (self.running is not None or self.connection.lost
                or time.monotonic() - self._quiet_since < IDLE_SECONDS):
            return
        from .screens import experts, phase
        if "phase" not in self.opened:
            self.read_ahead.start(*phase.opening_read(self.lab, self.current_experiment))
        if "experts" not in self.opened:
            self.read_ahead.start(*experts.opening_read(self.lab, self.current_experiment))

    def data_changed(self, experiment_id: int | None) -> None:
        """Tell the view on screen that the data changed; reads made ahead no longer hold."""
        self.read_ahead.forget()
        self._quiet_since = time.monotonic()
        self.screen.post_message(DataChanged(experiment_id))

    def _collect_young(self) -> None:
        """The collector's periodic pass, put off while a view opens (a pass over what the
        opening just built took up to 60 ms of it)."""
        wait = self._view_changed + FULL_AFTER_VIEW - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._collect_young)
            return
        self.collector.tick(self.running is not None)

    def _warm_css(self) -> None:
        from .css_warm import warm
        warm(self)

    def on_unmount(self) -> None:
        self.feed.stop()
        self.workers.cancel_all()
        self.collector.uninstall()

    def poll_status(self) -> None:
        fetch(self, "status", lambda: self.lab.call("status"))

    def on_fetched(self, message: Fetched) -> None:
        if message.key == "status":
            self._on_status(message)
        elif message.key == "submitted":
            from .screens.new_experiment import on_submitted
            on_submitted(self, message)
        elif message.key == "figure":
            from .screens.export import on_figure
            on_figure(self, message)

    def _on_status(self, message: Fetched) -> None:
        if message.error or message.value is None:
            change = self.connection.failed(message.error or "no answer")
            if change is not None:
                self.running = None  # nothing is known to run while the service is away
                self.notify(change.text, severity="warning", timeout=6)
            self._tell_screen()
            return
        change = self.connection.answered(message.value)
        self.status = message.value
        # The event stream is fresher than a poll that may have started before it.
        stream_quiet = time.monotonic() - self._progress_at > 2 * self.poll_seconds
        if "running" in self.status and (stream_quiet or change is not None):
            self.running = self.status.get("running")
        if change is not None and self.screen_stack:  # all on screen may be stale: reload
            self.notify(change.text, timeout=6)
            self.data_changed(None)
        self._tell_screen()

    def on_progress_tick(self, message: ProgressTick) -> None:
        progress = self.feed.take_progress()
        if progress is None:
            return
        self.running = {k: v for k, v in progress.items() if k != "type"}
        self._progress_at = time.monotonic()
        exp, loss = progress.get("experiment_id"), progress.get("loss")
        if exp is not None and loss is not None:
            points = self.loss_history.setdefault(exp, [])
            points.append((progress.get("work_done") or len(points), float(loss)))
            if len(points) > LOSS_POINTS:
                del points[::2]
        self._tell_screen()

    def on_experiment_changed(self, message: ExperimentChanged) -> None:
        if message.status not in ("queued", "running"):
            self.running = None
        self.poll_status()
        self.data_changed(message.experiment_id)

    def _tell_screen(self) -> None:
        if not self.screen_stack:  # shutting down: an answer arrived after the last view
            return
        self.sub_title = (self.connection.line() or running_line(self.running)
                          or self.db_label)
        self.screen.post_message(LabStatus({**self.status, "running": self.running,
                                            "lost": self.connection.lost}))

    # -- navigation ------------------------------------------------------------------------
    def action_show(self, mode: str) -> None:
        if mode == "detail":
            self.open_run(self.current_run)
            return
        # A run detail pushed on top of a view closes when the user moves on.
        while isinstance(self.screen, RunDetailScreen):
            self.pop_screen()
        self.switch_mode(mode)
        self.opened.add(mode)
        self._quiet_since = time.monotonic()
        self.collect_soon()

    def action_back_or_quit(self) -> None:
        """q: back from a view pushed on top (run detail, help), else quit; training goes
        on in the lab service."""
        if isinstance(self.screen, ModalScreen):
            self.screen.dismiss(None)
        elif len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.exit()

    def open_run(self, run_id: int | None) -> None:
        if run_id is None:
            self.notify("no run chosen yet: pick one in Runs (Enter) or the phase diagram",
                        severity="warning")
            return
        self.current_run = int(run_id)
        if isinstance(self.screen, RunDetailScreen):
            self.screen.show_run(int(run_id))
        else:
            self.push_screen(RunDetailScreen(int(run_id)))
        self.collect_soon()

    def collect_soon(self) -> None:
        """A full garbage collection, if due, once the view just opened is on screen
        (FULL_AFTER_VIEW later, unless the user moves on first): done before it, the pass
        (50-500 ms on 2 cores) delayed every view's opening."""
        self._view_changed = time.monotonic()
        if self._full_timer is not None:
            self._full_timer.stop()
        self._full_timer = self.set_timer(FULL_AFTER_VIEW, self.collector.full_if_grown)

    def toggle_mark(self, run_id: int) -> None:
        run_id = int(run_id)
        self.marked.symmetric_difference_update({run_id})
        self.notify(f"{'marked' if run_id in self.marked else 'unmarked'} run {run_id}; "
                    f"{len(self.marked)} marked · 7 compares them", timeout=2)
        self._marks_changed()

    def set_marks(self, run_ids: Iterable[int]) -> None:
        self.marked = {int(r) for r in run_ids}
        self._marks_changed()

    def _marks_changed(self) -> None:
        if hasattr(self.screen, "marks_changed"):
            self.screen.marks_changed()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for v in VIEWS:
            yield SystemCommand(f"{v.title} ({v.key})", v.about,
                                lambda mode=v.mode: self.action_show(mode))
        yield SystemCommand("Help (?)", "every key of every view", self.action_help)
        yield SystemCommand("Save screenshot (F2)", "this view as an SVG file",
                            self.action_screenshot)
        yield SystemCommand("Export figure (F3)", "this view as a figure file",
                            self.action_export_figure)
        yield SystemCommand("Quick start", "queue fig4 --quick (under a minute on a laptop)",
                            self.quick_start)
        yield SystemCommand("Clear marks", "unmark every run marked for comparison",
                            lambda: self.set_marks(()))
        yield from super().get_system_commands(screen)

    # -- actions every view shares ---------------------------------------------------------
    def quick_start(self) -> None:
        from .screens.new_experiment import submit_preset
        submit_preset(self, "fig4", quick=True)

    def action_screenshot(self) -> None:
        from .screens.export import screenshot
        screenshot(self)

    def action_export_figure(self) -> None:
        from .screens.export import export_figure
        export_figure(self)


def run_app(client, db_label: str = "") -> None:
    MoelabApp(client, db_label).run()
