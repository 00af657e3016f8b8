"""Pilot tests of every view against a seeded database (DirectClient reads) with a fake
service for submit / cancel / events."""

from __future__ import annotations

import csv
import json

import pytest
from test_tui_support import FakeClient, empty_db, run_app_test, seeded_db, text, until

from moelab.tui.screens.new_experiment import NewExperimentScreen
from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.screens.run_detail import RunDetailScreen
from moelab.tui.widgets.cell_grid import CellGrid
from moelab.tui.widgets.virtual_table import VirtualTable


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "state"


def test_runs_filter_sort_and_bad_filter(state_dir):
    async def body(app, pilot):
        runs = app.screen.query_one("#runs", VirtualTable)
        await until(pilot, lambda: runs.total == 45)
        assert app.screen.query_one("#experiments").row_count == 3
        await pilot.press("slash")
        for ch in "n_experts = 2":
            await pilot.press("space" if ch == " " else ch)
        await pilot.press("enter")
        await until(pilot, lambda: runs.total == 18)
        assert {r[runs.columns.index("n_experts")] for r in runs._pages[0]} == {2}
        # A bad expression says why and changes nothing.
        await pilot.press(*"ctrl+u".split())
        app.screen.query_one("#filter").value = "nope = 1"
        await pilot.press("enter")
        await until(pilot, lambda: "nope" in text(app, "#filter-error"))
        assert runs.total == 18 and app.screen.where == "n_experts = 2"
        # Sort by the cursor's column (sparsity), then reverse it.
        await pilot.press("escape")
        runs.cursor_col = runs.columns.index("sparsity")
        await pilot.press("s")
        await until(pilot, lambda: app.screen.order_by == "sparsity")
        await until(pilot, lambda: runs.sort_column == "sparsity")
        values = [r[runs.columns.index("sparsity")] for r in runs._pages[0]]
        assert values == sorted(values)
        await pilot.press("s")
        await until(pilot, lambda: runs.sort_descending)
        values = [r[runs.columns.index("sparsity")] for r in runs._pages[0]]
        assert values == sorted(values, reverse=True)
    run_app_test(FakeClient(seeded_db()), body)
    # The good filter is kept for next time; the bad one is not.
    assert json.loads((state_dir / "history.json").read_text())["runs_filter"] == [
        "n_experts = 2"]


def test_enter_on_an_experiment_scopes_runs_and_enter_on_a_run_opens_it():
    async def body(app, pilot):
        runs = app.screen.query_one("#runs", VirtualTable)
        await until(pilot, lambda: runs.total == 45)
        await pilot.press("enter")  # the top experiment is the newest: table1-tiny
        await until(pilot, lambda: runs.total == 6)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == runs._pages[0][0][0]
    run_app_test(FakeClient(seeded_db()), body)


def test_cancel_a_running_experiment_and_refuse_a_finished_one():
    def panel():
        from moelab.engine.client import DirectClient
        with DirectClient(seeded_db()) as c:
            rows = c.read("experiments_panel")
        rows[0]["status"] = "running"
        return rows
    client = FakeClient(seeded_db(), reads={"experiments_panel": panel})

    async def body(app, pilot):
        table = app.screen.query_one("#experiments")
        await until(pilot, lambda: table.row_count == 3)
        await pilot.press("c")  # asks first (trap 5); n keeps it running
        await until(pilot, lambda: type(app.screen).__name__ == "Confirm")
        assert "Cancel experiment 3" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await pilot.pause(0.2)
        assert client.cancelled == []
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "Confirm")
        await pilot.press("y")
        await until(pilot, lambda: client.cancelled == [3])
        await pilot.press("down", "c")  # experiment 2 is done: nothing is asked or sent
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "RunsScreen" and client.cancelled == [3]
    run_app_test(client, body)


def test_empty_database_greets_and_queues_a_quick_preset_with_one_key():
    client = FakeClient(empty_db())

    async def body(app, pilot):
        welcome = app.screen.query_one("#welcome")
        await until(pilot, lambda: welcome.display)
        assert "quick" in str(welcome.render())
        await pilot.press("space")
        await until(pilot, lambda: len(client.submitted) == 1)
    run_app_test(client, body)
    raw, preset, quick, _ = client.submitted[0]
    assert (preset, quick) == ("fig4", True)
    assert raw["train"]["steps"] == 1000  # the preset's quick form, unchanged


def test_new_experiment_validates_as_you_type_with_the_cli_messages():
    from moelab.engine.config import ConfigError
    from moelab.engine.presets import build_config, sizes
    client = FakeClient(seeded_db())
    try:
        build_config("fig5", quick=True, sets=["model.k=7"])
    except ConfigError as err:
        cli_message = err.problems[0]

    async def body(app, pilot):
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, NewExperimentScreen))
        screen = app.screen
        screen.query_one("#preset").value = "fig5"
        await until(pilot, lambda: screen.preset == "fig5" and "model.k" in screen.inputs)
        await until(pilot, lambda: f"{sizes('fig5')[1]} models" in text(app, "#summary"))
        screen.inputs["model.k"].value = "7"
        await until(pilot, lambda: cli_message in text(app, "#problems"))
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert client.submitted == []  # a form with problems is not queued
        screen.inputs["model.k"].value = "1"
        screen.inputs["train.steps"].value = "300"
        await until(pilot, lambda: text(app, "#problems") == "")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(client.submitted) == 1)
    run_app_test(client, body)
    raw, preset, quick, _ = client.submitted[0]
    assert preset == "fig5" and quick and raw["train"]["steps"] == 300
    assert raw["model"]["n_experts"] == 3


def test_phase_diagram_grids_cursor_values_and_enter_opens_the_run():
    async def body(app, pilot):
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen)
                    and len(app.screen.query(CellGrid)) == 3)
        screen = app.screen
        titles = [g.title for g in screen.query(CellGrid)]
        assert titles == ["4.A expert 0 of 1", "4.A expert 0 of 2", "4.A expert 1 of 2"]
        grid = screen.query(CellGrid).first()
        await until(pilot, lambda: grid.has_focus)
        assert (grid.n_cols, grid.n_rows) == (3, 3)
        await pilot.press("right", "down")
        # As the paper's figure: columns are importances, rows sparsities (top = highest).
        await until(pilot, lambda: "sparsity 0.5" in text(app, "#cell-info"))
        assert "I_last 1 " in text(app, "#cell-info")
        run_id = screen.cell_at(grid.id, 1, 1)["run_id"]
        await pilot.press("v")  # another colouring keeps the cursor
        await until(pilot, lambda: screen.colouring == "paper-all")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == run_id
    run_app_test(FakeClient(seeded_db()), body)


def test_run_detail_switches_experts_and_shows_gram_values():
    from moelab.engine.client import DirectClient
    with DirectClient(seeded_db()) as c:
        _, rows = c.sql("SELECT run_id FROM runs WHERE n_experts = 2 AND chosen LIMIT 1")
        run_id = rows[0][0]
        detail = c.read("run_detail", run_id=run_id)

    async def body(app, pilot):
        app.open_run(run_id)
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                    and app.screen.detail is not None)
        W = detail["experts"][0]["W"]
        g01 = sum(W[r][0] * W[r][1] for r in range(len(W)))
        await pilot.press("right")
        await until(pilot, lambda: f"= {g01:.4f}" in text(app, "#gram-info"))
        assert "expert 0 of 2" in text(app, "#run-title")
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "expert 1 of 2" in text(app, "#run-title"))
        W = detail["experts"][1]["W"]
        assert f"= {sum(W[r][0] * W[r][1] for r in range(len(W))):.4f}" in text(app,
                                                                                 "#gram-info")
        assert "routing gradient norm" in text(app, "#router")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunDetailScreen))
    run_app_test(FakeClient(seeded_db()), body)


def test_experts_screen_shows_table1_grouped_by_setup_and_router_init():
    async def body(app, pilot):
        app.current_experiment = 3
        await pilot.press("5")
        table = None

        def ready():
            nonlocal table
            table = app.screen.query("#table1").first() if app.screen.query("#table1") \
                else None
            return table is not None and table.row_count == 8
        await until(pilot, ready)
        inits = [table.get_row_at(i)[1] for i in range(8)]
        assert inits == ["random_khot"] * 4 + ["xavier"] * 4
        assert [table.get_row_at(i)[2] for i in range(3)] == ["0", "1", "2"]  # from 0
        assert "all" in str(table.get_row_at(3)[2])
        await pilot.press("l")
        assert app.screen.metric == "eval_loss"
    run_app_test(FakeClient(seeded_db()), body)


def test_sql_console_pages_100k_rows_and_exports(tmp_path):
    async def body(app, pilot):
        await pilot.press("6")
        await until(pilot, lambda: app.screen.query("#query"))
        box = app.screen.query_one("#query")
        box.text = "SELECT range AS i,\n  range * 2 AS j\nFROM range(100000)"  # multi-line
        await pilot.press("ctrl+r")
        table = app.screen.query_one("#result", VirtualTable)
        await until(pilot, lambda: table.total == 100_000)
        await pilot.press("escape", "end")
        await until(pilot, lambda: table.row(99_999) is not None)
        assert table.row(99_999) == [99_999, 199_998]
        assert len(table._pages) <= 3  # only what was looked at is held
        box.text = "DROP TABLE runs"
        await pilot.press("slash", "ctrl+r")
        await until(pilot, lambda: "refused" in text(app, "#sql-status"))
        assert table.total == 100_000
        box.text = "SELECT run_id, eval_loss FROM runs ORDER BY run_id"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: table.total == 45)
        await pilot.press("ctrl+e")
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        app.screen.query_one("#prompt-input").value = "runs.csv"
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "runs.csv").exists())
    run_app_test(FakeClient(seeded_db()), body, export_dir=tmp_path)
    rows = list(csv.reader((tmp_path / "runs.csv").open()))
    assert rows[0] == ["run_id", "eval_loss"] and len(rows) == 46


def test_live_progress_is_coalesced_and_shown():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        await until(pilot, lambda: app.screen.query_one("#experiments").row_count == 3)
        ticks = 0
        original = app.on_progress_tick

        def counting(message):
            nonlocal ticks
            ticks += 1
            original(message)
        app.on_progress_tick = counting
        for i in range(1, 2001):
            client.event_queue.put({"type": "progress", "experiment_id": 3, "name": "t",
                                    "step": i, "steps": 2000, "batch": 1, "n_batches": 1,
                                    "models_done": 0, "n_models": 6, "work_done": i * 6,
                                    "work_total": 12000, "loss": 1.0 / i, "device": "cpu",
                                    "eta_seconds": 5.0})
        await until(pilot, lambda: (app.running or {}).get("step") == 2000, timeout=30)
        assert ticks < 2000  # coalesced: the UI never handles every event
        # The view hears of it by a message of its own, a moment later.
        await until(pilot, lambda: "100%" in str(
            app.screen.query_one("#experiments").get_row("3")[3]))
        assert "training #3" in text(app, "#live-line")
        client.event_queue.put({"type": "status", "experiment_id": 3, "status": "done"})
        await until(pilot, lambda: app.running is None)
    run_app_test(client, body)


def test_help_palette_screenshot_and_figure_export(tmp_path):
    async def body(app, pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert "Phase diagram" in str(app.screen.query("Static").first().render())
        await pilot.press("escape")
        await pilot.press("f2")  # asks where first, in the export folder
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        assert app.screen.query_one("#prompt-input").value.startswith(str(tmp_path))
        await pilot.press("enter")
        await until(pilot, lambda: list(tmp_path.glob("*.svg")))
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Runs", "New experiment", "Phase diagram", "Run detail", "Experts",
                      "SQL console", "Compare", "Help", "Quick start"):
            assert any(c.startswith(title) for c in commands), title
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen)
                    and app.screen.experiment == 1)
        await pilot.press("f3")
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        await pilot.press("enter")
        await until(pilot, lambda: list(tmp_path.glob("moelab-phase-1-paper-*.png")),
                    timeout=60)
    run_app_test(FakeClient(seeded_db()), body, export_dir=tmp_path)
    assert "<svg" in next(tmp_path.glob("*.svg")).read_text()[:500]
    png = next(tmp_path.glob("*.png")).read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 1000


def test_form_problems_keep_their_brackets():
    # ConfigError messages quote TOML ("[lists]"); markup must not eat them.
    async def body(app, pilot):
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, NewExperimentScreen)
                    and "train.steps" in app.screen.inputs)
        app.screen.inputs["train.steps"].value = ""
        await until(pilot, lambda: "[lists]" in text(app, "#problems"))
    run_app_test(FakeClient(seeded_db()), body)
