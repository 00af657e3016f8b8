"""Compare runs (space marks, 7 compares), the Runs table's columns and saved views, and the
SQL console's editor, completion and saved queries."""

from __future__ import annotations

import json
import stat

import pytest
from test_tui_support import FakeClient, run_app_test, seeded_db, text, until

from moelab.tui.screens.choosers import ColumnChooser, NamePicker
from moelab.tui.screens.compare import CompareScreen
from moelab.tui.screens.sql import SqlScreen
from moelab.tui.widgets.cell_grid import CellGrid
from moelab.tui.widgets.virtual_table import VirtualTable


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def column(table: VirtualTable, name: str) -> list:
    return [r[table.columns.index(name)] for r in table._pages[0]]


def test_compare_marked_runs_grouped_by_config_except_seed(tmp_path):
    async def body(app, pilot):
        runs = app.screen.query_one("#runs", VirtualTable)
        await until(pilot, lambda: runs.total == 45)
        runs.focus()
        # Runs 1-4: two sweep points (last importance 0.2 and 1), two seeds each.
        await pilot.press("space", "space", "space", "space")
        assert app.marked == {1, 2, 3, 4}
        assert "(4)" in text(app, "ViewBar")
        await pilot.press("7")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.groups)
        screen = app.screen
        assert "Comparing 4 runs" in text(app, "#compare-title")
        assert [len(g.runs) for g in screen.groups] == [2, 2]
        table = screen.query_one("#compare-table")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i)[1:]
                for i in range(table.row_count)}
        assert "data.last_importance" in rows and "seed" in rows
        assert "model.n_features" not in rows  # the same in every run: not shown
        assert "±" in rows["eval_loss"][0]  # a group's mean ± 95% half-width
        await until(pilot, lambda: len(screen.query(CellGrid)) == 2)  # Gram per group
        assert len(screen.query(".compare-norms")) == 2  # feature norms beside each Gram
        await pilot.press("g")  # each run on its own
        await until(pilot, lambda: len(screen.groups) == 4)
        assert len(screen.query_one("#compare-table").columns) == 5
        metric = screen.metric
        await pilot.press("m")
        assert screen.metric != metric or len(screen.metrics) < 2
        await pilot.press("f3")
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        await pilot.press("enter")
        await until(pilot, lambda: list(tmp_path.glob("moelab-compare-4-runs-*.png")),
                    timeout=60)
        await pilot.press("u")  # unmark all
        await until(pilot, lambda: "Nothing to compare" in text(app, "#compare-title"))
    run_app_test(FakeClient(seeded_db()), body, size=(140, 45), export_dir=tmp_path)


def test_columns_chosen_hidden_moved_sorted_and_saved_as_a_view(private_dirs):
    async def body(app, pilot):
        runs = app.screen.query_one("#runs", VirtualTable)
        await until(pilot, lambda: runs.total == 45)
        assert "router_init" in runs.columns  # fig5's runs differ only there
        runs.focus()
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ColumnChooser))
        chooser = app.screen
        options = chooser.query_one("#columns")
        options.highlighted = chooser.order().index("max(loss)")
        await pilot.press("space")  # show it (last of the shown)
        assert chooser.shown[-1] == "max(loss)"
        await pilot.press("K")  # one to the left
        assert chooser.shown[-2] == "max(loss)"
        await pilot.press("enter")
        await until(pilot, lambda: "max(loss)" in runs.columns)
        values = column(runs, "max(loss)")
        assert all(isinstance(v, float) for v in values)
        runs.cursor_col = runs.columns.index("max(loss)")
        await pilot.press("s")
        await until(pilot, lambda: runs.sort_column == "max(loss)")
        values = column(runs, "max(loss)")
        assert values == sorted(values)
        runs.cursor_col = runs.columns.index("device")
        await pilot.press("h")
        await until(pilot, lambda: "device" not in runs.columns)
        runs.cursor_col = runs.columns.index("seed")
        await pilot.press("less_than_sign")
        await until(pilot, lambda: runs.columns.index("seed") == runs.columns.index(
            "last_importance") - 1)
        saved = list(runs.columns)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        app.screen.query_one("#prompt-input").value = "by max loss"
        await pilot.press("enter")
        await until(pilot, lambda: (private_dirs / "tui.json").exists())
        runs.focus()
        runs.cursor_col = runs.columns.index("kind")
        await pilot.press("h")
        await until(pilot, lambda: "kind" not in runs.columns)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, NamePicker))
        await pilot.press("enter")
        await until(pilot, lambda: runs.columns == saved and runs.sort_column == "max(loss)")
    run_app_test(FakeClient(seeded_db()), body, size=(140, 45))
    settings = private_dirs / "tui.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    view = json.loads(settings.read_text())["views"]["by max loss"]
    assert view["order_by"] == "max(loss)" and "max(loss)" in view["columns"]


def test_sql_console_highlights_completes_saves_queries_and_marks_runs(private_dirs):
    async def body(app, pilot):
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, SqlScreen) and app.screen.columns)
        screen = app.screen
        editor = screen.query_one("#query")
        assert editor.language == "sql"  # highlighted
        editor.text = ""
        await pilot.press(*"SELECT rout")
        await until(pilot, lambda: screen.completions[:1] == ["router_init"])
        await pilot.press("tab")
        assert editor.text == "SELECT router_init"
        await pilot.press("enter", *"FROM runs WHERE chosen")  # a second line
        assert editor.text == "SELECT router_init\nFROM runs WHERE chosen"
        await pilot.press("ctrl+r")
        table = screen.query_one("#result", VirtualTable)
        await until(pilot, lambda: table.columns == ["router_init"])
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.query("#prompt-input"))
        app.screen.query_one("#prompt-input").value = "inits"
        await pilot.press("enter")
        await until(pilot, lambda: (private_dirs / "tui.json").exists())
        editor.text = "SELECT run_id, eval_loss FROM runs ORDER BY run_id"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: table.columns == ["run_id", "eval_loss"])
        await pilot.press("escape", "space")  # Esc to the table; space marks run 1
        assert app.marked == {1}
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, NamePicker))
        await pilot.press("enter")
        await until(pilot, lambda: table.columns == ["router_init"])
        assert screen.query_one("#query").text.startswith("SELECT router_init")
    run_app_test(FakeClient(seeded_db()), body, size=(120, 40))
    saved = json.loads((private_dirs / "tui.json").read_text())["queries"]
    assert saved == {"inits": "SELECT router_init\nFROM runs WHERE chosen"}
