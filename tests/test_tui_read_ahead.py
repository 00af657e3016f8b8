"""Work the lab does while the user reads a view, so that the next one opens at once:
reading ahead (tui/read_ahead.py: the phase diagram's and Experts' opening reads; the view
opens on that answer without reading again, joins a read still under way, and never shows
an answer read before the data changed), the New experiment screen built while idle, the
widgets' CSS parsed ahead, and the garbage collector's pass put off while a view opens."""

from __future__ import annotations

import threading
import time

import pytest
from test_tui_support import FakeClient, run_app_test, seeded_db, until

from moelab.tui.screens.experts import ExpertsScreen
from moelab.tui.screens.new_experiment import NewExperimentScreen
from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.widgets.cell_grid import CellGrid

pytestmark = pytest.mark.usefixtures("private_dirs")


def counting_client(gate: threading.Event | None = None) -> tuple[FakeClient, dict]:
    """A client that counts its phase_grids and table1_by_setup reads (phase_grids waits
    for `gate` when one is given)."""
    calls = {"phase_grids": 0, "table1_by_setup": 0}
    client = FakeClient(seeded_db())

    def counted(name):
        def read(**params):
            calls[name] += 1
            if gate is not None and name == "phase_grids":
                gate.wait(10)
            return client.direct.read(name, **params)
        return read
    client.reads = {name: counted(name) for name in calls}
    return client, calls


def phase_shown(app) -> bool:
    return isinstance(app.screen, PhaseScreen) and any(
        g.colours for g in app.screen.query(CellGrid))


def test_views_open_on_the_reads_made_ahead():
    client, calls = counting_client()

    def read_for_now(app) -> bool:  # both views' answers for the current experiment
        done = {key[:2] for key in app.read_ahead._done}
        return {("phase", app.current_experiment), ("experts", app.current_experiment)} <= done

    async def body(app, pilot):
        await until(pilot, lambda: app.current_experiment is not None and read_for_now(app))
        before = dict(calls)
        assert before["phase_grids"] >= 1 and before["table1_by_setup"] >= 1
        await pilot.press("3")
        await until(pilot, lambda: phase_shown(app))
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, ExpertsScreen)
                    and app.screen.query_one("#table1").row_count > 0)
        await pilot.pause(0.8)  # nothing reads them again, nor ahead for opened views
        assert calls == before
        assert app.screen.experiment == 3  # the default (table1 preset), as when read there
    run_app_test(client, body)


def test_a_view_joins_a_read_ahead_under_way():
    gate = threading.Event()
    client, calls = counting_client(gate)

    async def body(app, pilot):
        started = []  # the phase reads made ahead: each reads the grids once
        start = app.read_ahead.start

        def noted(key, read, aliases=None):
            if key[0] == "phase" and key not in app.read_ahead._done | app.read_ahead._waiting:
                started.append(key)
            start(key, read, aliases)
        app.read_ahead.start = noted
        # read ahead for the current experiment, held at the gate
        await until(pilot, lambda: app.current_experiment is not None and any(
            key[:2] == ("phase", app.current_experiment) for key in app.read_ahead._waiting))
        await pilot.press("3")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PhaseScreen) and not phase_shown(app)
        gate.set()
        await until(pilot, lambda: phase_shown(app))
        await pilot.pause(0.3)
        assert calls["phase_grids"] == len(started)  # none of the view's own
    run_app_test(client, body)


def test_a_change_of_data_drops_what_was_read_ahead():
    gate = threading.Event()
    client, calls = counting_client(gate)

    async def body(app, pilot):
        await until(pilot, lambda: calls["phase_grids"] >= 1)
        app.data_changed(None)  # while the read is under way: its answer must not be kept
        gate.set()
        await pilot.pause(0.2)
        assert not any(key[0] == "phase" for key in app.read_ahead._done)
        # read again once the lab is quiet, then taken by the view
        await until(pilot, lambda: ("phase", app.current_experiment) in {
            key[:2] for key in app.read_ahead._done})
        before = calls["phase_grids"]
        await pilot.press("3")
        await until(pilot, lambda: phase_shown(app))
        assert calls["phase_grids"] == before
    run_app_test(client, body)


def test_nothing_is_read_ahead_while_an_experiment_trains():
    client, calls = counting_client()

    async def body(app, pilot):
        app.running = {"experiment_id": 1, "work_done": 1}
        app.data_changed(1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2:
            app.running = {"experiment_id": 1, "work_done": 1}  # as the progress feed does
            await pilot.pause(0.1)
        assert calls["phase_grids"] == 0
    run_app_test(client, body)


def test_new_experiment_opens_on_the_form_built_while_idle():
    client, _ = counting_client()

    async def body(app, pilot):
        await until(pilot, lambda: app._spare_new is not None, timeout=20)
        spare = app._spare_new
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, NewExperimentScreen))
        assert app.screen is spare and app._spare_new is None
        await until(pilot, lambda: "models" in str(app.screen.query_one("#summary").render()),
                    timeout=30)
        assert app.screen.inputs["model.n_features"].is_mounted
        assert app.screen.query_one("#preset").value == "fig4"
    run_app_test(client, body)


def test_widget_css_parsed_ahead_styles_them_the_same():
    """tui/css_warm.py adds the built-in widgets' CSS before any is mounted: each widget
    ends up with the same styles (its own and its parts') as when Textual adds it."""
    import asyncio

    from textual.app import App
    from textual.widgets import Button, DataTable, Input, Select, Switch

    from moelab.tui import css_warm

    def widgets():
        return [Input("x", classes="field"), Switch(), Button("b", variant="primary"),
                Select([("a", 1)], value=1), DataTable()]

    def styles(app):
        out = []
        for w in app.query("*"):
            parts = {name: w.get_component_rich_style(name, partial=True)
                     for name in sorted(w._get_component_classes())}
            out.append((type(w).__name__, w.styles.css, str(w.rich_style), repr(parts)))
        return out

    async def styled(warm: bool):
        app = App(css_path=None)
        async with app.run_test() as pilot:
            if warm:
                for cls in css_warm.view_classes():
                    css_warm.add_default_css(app, cls)
            await app.screen.mount_all(widgets())
            await pilot.pause()
            return styles(app)
    warm, plain = asyncio.run(styled(True)), asyncio.run(styled(False))
    assert len(warm) >= 10 and warm == plain
    assert any("input--cursor" in parts for *_, parts in warm)


def test_the_collectors_pass_waits_for_the_view_to_open():
    client, _ = counting_client()

    async def body(app, pilot):
        ticks = []
        app.collector.tick = lambda training: ticks.append(time.monotonic())
        app.action_show("experts")  # a view change: the pass waits FULL_AFTER_VIEW after it
        asked = time.monotonic()
        app._collect_young()
        assert ticks == []
        await until(pilot, lambda: ticks, timeout=5)
        from moelab.tui.app import FULL_AFTER_VIEW
        assert ticks[0] - asked > FULL_AFTER_VIEW * 0.8
    run_app_test(client, body)
