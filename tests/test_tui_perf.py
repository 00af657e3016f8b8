"""Measurements behind the TUI's performance claims (slow: builds a 10,000-run database).

Prints the time to open each view (from the key to the end of the frame that draws it with
its data) and the longest stall of the UI thread (event-loop lag, which includes every
frame's layout and rendering), and asserts the issue's bounds.
Run: pytest -m slow tests/test_tui_perf.py -s
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from test_tui_support import FakeClient, run_app_test, until

from moelab.tui.screens.compare import CompareScreen
from moelab.tui.screens.new_experiment import NewExperimentScreen
from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.screens.run_detail import RunDetailScreen
from moelab.tui.widgets.cell_grid import CellGrid
from moelab.tui.widgets.virtual_table import VirtualTable

pytestmark = pytest.mark.slow

BIG = {
    "model": {"kind": "moe", "k": 1, "n_features": 3, "d_hidden": 2},
    "data": {"importance": "uniform"},
    "train": {"steps": 20, "batch_size": 64, "seeds": 1, "eval_samples": 200,
              "log_every": 5},
    "sweep": {"data.sparsity": [round(0.025 + i * 0.95 / 49, 4) for i in range(50)],
              "data.last_importance": [round(0.1 + i * 2.85 / 49, 4) for i in range(50)],
              "variants": [{"model": {"kind": "dense"}}, {"model": {"n_experts": 2}},
                           {"model": {"n_experts": 3}},
                           {"model": {"n_experts": 2, "d_hidden": 1}}]},
}


def big_db(tmp: Path) -> Path:
    """10,000 runs: four setups over a 50 × 50 sparsity × last-importance grid."""
    from runner_support import run_in_memory

    from moelab.db import open_store
    from moelab.engine.config import from_dict
    path = tmp / "big.duckdb"
    cfg = from_dict(BIG, name="big")
    result = run_in_memory(cfg, "cpu")
    with open_store(path) as store:
        exp = store.create_experiment("big", "fig4", cfg.to_json())
        store.write_runs(exp, result.chunks)
        store.set_experiment_status(exp, "done")
    return path


class LagMonitor:
    """The UI thread's longest stall: how late a 5 ms timer fires on the app's loop."""

    def __init__(self):
        self.lags: list[float] = []
        self._task = None

    def start(self):
        async def tick():
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.005)
                self.lags.append(time.perf_counter() - t0 - 0.005)
        self._task = asyncio.get_running_loop().create_task(tick())

    def stop(self):
        self._task.cancel()

    @property
    def worst_ms(self) -> float:
        return max(self.lags, default=0.0) * 1000


class FrameClock:
    """Each frame Textual draws: when it started and ended, which widgets it drew (class
    names and ids), and whether the view's data was in by then (`ready`)."""

    def __init__(self, monkeypatch):
        from textual.screen import Screen
        from textual.widget import Widget
        self.frames: list[tuple[float, float, set[str], bool]] = []
        self.ready = lambda: False
        drawn: set[str] = set()
        refresh, render_lines = Screen._compositor_refresh, Widget.render_lines

        def timed_refresh(screen):
            drawn.clear()
            t0, ready = time.perf_counter(), self.ready()
            refresh(screen)
            self.frames.append((t0, time.perf_counter(), set(drawn), ready))

        def noted_render_lines(widget, crop):
            drawn.update((type(widget).__name__, str(widget.id)))
            return render_lines(widget, crop)
        monkeypatch.setattr(Screen, "_compositor_refresh", timed_refresh)
        monkeypatch.setattr(Widget, "render_lines", noted_render_lines)

    async def open(self, t0: float, ready, widget: str, timeout: float = 30.0) -> float:
        """Seconds from t0 to the end of the first frame that drew `widget` with the data
        in (ready() true as the frame began)."""
        self.ready = ready
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for start, end, names, was_ready in self.frames:
                if start >= t0 and was_ready and widget in names:
                    return end - t0
            await asyncio.sleep(0.02)
        raise AssertionError(f"no frame drew {widget} with its data in {timeout} s")


THINK = 1.0  # seconds on a view before the next key: a user reads it first


def open_times(tmp_path, monkeypatch, read_ahead: bool = True) -> dict[str, float]:
    """Seconds from each key to the end of the frame that draws the view with its data, on
    a 10,000-run database (printed as well). Keys are posted as typed, with THINK seconds
    on each view first; read_ahead=False opens every view cold (tui/read_ahead.py off)."""
    from textual import events
    # MOELAB_BIG_DB reuses a database built by big_db (building one takes minutes).
    path = Path(os.environ.get("MOELAB_BIG_DB") or big_db(tmp_path))
    times: dict[str, float] = {}
    lag = LagMonitor()
    clock = FrameClock(monkeypatch)

    async def body(app, pilot):
        if not read_ahead:
            app.read_ahead.start = lambda *args: None
        t0 = time.perf_counter()
        lag.start()
        runs = app.screen.query_one("#runs", VirtualTable)
        times["runs"] = await clock.open(t0, lambda: runs.total == 10_000, "runs")

        async def timed(name, key, ready, widget):
            await asyncio.sleep(THINK)
            t0 = time.perf_counter()
            if key:
                app.post_message(events.Key(key, key if len(key) == 1 else None))
            times[name] = await clock.open(t0, ready, widget)

        async def sort(name, columns, order_by, ready):
            await asyncio.sleep(THINK)
            if columns:
                app.screen.view.set_columns(columns)
            app.screen.view.order_by = order_by
            t0 = time.perf_counter()
            app.screen.load_runs()
            times[name] = await clock.open(t0, ready, "runs")

        await sort("runs sorted by eval_loss", None, "eval_loss",
                   lambda: runs.sort_column == "eval_loss")
        await sort("runs with min/last(loss) columns, sorted by min(loss)",
                   ["run_id", "router_init", "min(loss)", "last(loss)"], "min(loss)",
                   lambda: runs.sort_column == "min(loss)" and runs.total == 10_000)
        app.set_marks(range(1, 9))
        await timed("phase diagram", "3", lambda: isinstance(app.screen, PhaseScreen)
                    and len(app.screen.query(CellGrid)) == 8
                    and app.screen.query(CellGrid).first().n_cols == 50, "CellGrid")
        await timed("run detail", "enter", lambda: isinstance(app.screen, RunDetailScreen)
                    and app.screen.detail is not None, "loss-plot")
        await timed("experts", "5", lambda: bool(app.screen.query("#table1"))
                    and app.screen.query_one("#table1").row_count > 0, "table1")
        await timed("new experiment", "2", lambda: isinstance(app.screen, NewExperimentScreen)
                    and app.screen.variant_inputs
                    and app.screen.variant_inputs[-1].is_mounted, "Input")
        t0 = time.perf_counter()
        await until(pilot, lambda: "models" in str(app.screen.query_one("#summary").render()))
        times["new experiment: its check answered"] = time.perf_counter() - t0
        await timed("compare 8 marked runs", "7", lambda: isinstance(app.screen, CompareScreen)
                    and len(app.screen.runs) == 8
                    and any(g.colours for g in app.screen.query(CellGrid)), "CellGrid")
        await pilot.press("6")
        await until(pilot, lambda: app.screen.query("#query"))
        app.screen.query_one("#query").text = "SELECT * FROM features"
        await timed("sql: 60,000 feature rows", "ctrl+r",
                    lambda: app.screen.query_one("#result", VirtualTable).total == 60_000,
                    "result")
        lag.stop()

    client = FakeClient(path)
    client.read("experiments_panel")  # open the file first: the service holds it open
    run_app_test(client, body, size=(120, 40))
    kind = "read ahead" if read_ahead else "cold (no read-ahead)"
    for name, seconds in times.items():
        print(f"open {name} [{kind}]: {seconds * 1000:.0f} ms")
    print(f"worst UI-thread stall: {lag.worst_ms:.0f} ms over {len(lag.lags)} ticks")
    return times


@pytest.mark.parametrize("read_ahead", [True, False], ids=["read-ahead", "cold"])
def test_open_each_view_on_10k_runs(tmp_path, monkeypatch, read_ahead):
    """Every view opens; on a quiet machine each within the issue's 300 ms once the lab has
    read ahead (MOELAB_PERF_BUDGET=1 asserts that; a shared, busy machine measures its
    neighbours too). Cold openings are printed beside them."""
    times = open_times(tmp_path, monkeypatch, read_ahead)
    budget = 0.3 if os.environ.get("MOELAB_PERF_BUDGET") and read_ahead else 5.0
    views = {k: v for k, v in times.items() if k != "new experiment: its check answered"}
    assert all(seconds < budget for seconds in views.values()), views


def test_ui_stays_smooth_while_the_service_trains(tmp_path):
    """Frame budget while training: a fig4 --quick sweep (lengthened to train for about a
    minute) runs in the lab service while the Runs view shows it live, then the phase
    diagram (filling in when the sweep ends); every stall of the UI thread is measured."""
    pytest.importorskip("moelab.engine.service.client")
    from moelab.engine.presets import get
    from moelab.engine.service.client import connect
    db = tmp_path / "live.duckdb"
    client = connect(db, autostart=True)
    views = {"runs": LagMonitor(), "phase": LagMonitor()}
    seen = {}

    async def body(app, pilot):
        raw = get("fig4").raw(True)
        raw["train"]["steps"] = 12_000
        app.lab.call("submit", raw, preset="fig4", quick=True, name="live")
        await until(pilot, lambda: app.running is not None, timeout=120)
        await pilot.pause(1.0)  # the first frames after the table fills are not steady state
        t0 = time.perf_counter()
        views["runs"].start()
        while app.running is not None and time.perf_counter() - t0 < 30:
            await pilot.pause(0.1)
        views["runs"].stop()
        seen["loss_points"] = sum(len(v) for v in app.loss_history.values())
        await pilot.press("3")  # a view opening is the user's wait, not a stall: skip it
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen), timeout=30)
        await pilot.pause(1.0)
        views["phase"].start()
        while app.running is not None and time.perf_counter() - t0 < 150:
            await pilot.pause(0.1)
        await pilot.pause(3.0)  # the finished sweep's grids appear
        views["phase"].stop()
        seen["seconds"] = time.perf_counter() - t0
        seen["grids"] = len(app.screen.query(CellGrid))
    try:
        run_app_test(client, body, size=(120, 40))
    finally:
        import subprocess
        import sys
        subprocess.run([sys.executable, "-m", "moelab.cli", "engine", "stop", "--db", str(db)],
                       capture_output=True, timeout=60)
    for name, lag in views.items():
        lags = sorted(lag.lags)
        p99 = lags[int(0.99 * (len(lags) - 1))] * 1000 if lags else 0.0
        print(f"{name} view while training: {len(lags)} ticks, worst stall "
              f"{lag.worst_ms:.1f} ms, p99 {p99:.1f} ms")
    print(f"{seen['seconds']:.0f} s, {seen['loss_points']} loss points drawn, "
          f"{seen['grids']} phase grids")
    assert seen["loss_points"] > 0 and seen["grids"] == 15  # 8 setups, one grid per expert
    # The budget: no frame over 50 ms on the UI thread while the service trains.
    assert all(lag.worst_ms < 50 for lag in views.values())
