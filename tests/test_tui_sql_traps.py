"""Pilot tests for the SQL console's traps (issue 20 item 4, issue 25 item 10): Tab with
nothing to complete, and keystrokes in huge queries; each fails on the code before it."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
from test_tui_support import FakeClient, run_app_test, seeded_db, text, until
from textual import events

from moelab.tui.screens.sql import SqlScreen

pytestmark = pytest.mark.usefixtures("private_dirs")


async def open_sql(app, pilot, wait_for_names=True):
    await pilot.press("6")
    await until(pilot, lambda: isinstance(app.screen, SqlScreen)
                and (app.screen.columns or not wait_for_names))
    return app.screen, app.screen.query_one("#query")


def test_sql_tab_with_nothing_to_complete_keeps_the_focus_and_the_keys():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        screen, editor = await open_sql(app, pilot)
        editor.text = ""
        await pilot.press(*"SELECT avg(los")
        await until(pilot, lambda: screen.completions == [])
        await pilot.press("tab")
        assert app.focused is editor
        assert "nothing to complete" in text(app, "#sql-complete")
        await pilot.press(*"s) FROM runs")
        assert app.focused is editor
        assert editor.text == "SELECT avg(loss) FROM runs"
        # Tab where no word is being typed indents.
        await pilot.press("enter", "tab", *"WHERE chosen")
        assert editor.text == "SELECT avg(loss) FROM runs\n    WHERE chosen"
        assert app.focused is editor
        # A candidate still completes; Esc (not tab) goes to the results.
        await pilot.press("enter", *"ORDER BY rout")
        await until(pilot, lambda: screen.completions[:1] == ["router_init"])
        await pilot.press("tab")
        assert editor.text.endswith("ORDER BY router_init")
        await pilot.press("escape")
        assert app.focused is not editor
    run_app_test(client, body, size=(100, 30))


def test_sql_tab_before_the_column_names_load_stays_in_the_editor():
    loaded = threading.Event()
    client = FakeClient(seeded_db(), reads={"column_names": lambda **p: loaded.wait(20) and []})

    async def body(app, pilot):
        screen, editor = await open_sql(app, pilot, wait_for_names=False)
        editor.text = ""
        await pilot.press(*"SELECT rout", "tab")
        assert not screen.columns  # still loading
        assert app.focused is editor
        assert "loading" in text(app, "#sql-complete")
        await pilot.press(*"er_init")
        assert app.focused is editor and editor.text == "SELECT router_init"
        loaded.set()
    run_app_test(client, body, size=(100, 30))


def key_costs(app, pilot, keys):
    """The UI thread's CPU time per key (the app runs in this thread): load from other
    processes on the machine does not count, unlike wall time."""
    async def run():
        costs = []
        for key in keys:
            start = time.thread_time()
            await pilot.press(key)
            await pilot.pause()
            costs.append(time.thread_time() - start)
        return costs
    return run()


def test_sql_keystrokes_stay_fast_in_huge_queries():
    sql_line = ("SELECT run_id, avg(eval_loss) AS loss FROM runs WHERE chosen AND sparsity > 0.5 "
                "GROUP BY 1\n")
    sql_50k = sql_line * (50_000 // len(sql_line))
    parens_200k = "SELECT " + "(" * 100_000 + "1" + ")" * 100_000
    keys = ["a", "b", "space", "left", "backspace", "c", "tab", "d"]

    async def body(app, pilot):
        screen, editor = await open_sql(app, pilot)
        for big in (sql_50k, parens_200k):
            editor.select_all()
            start = time.thread_time()
            app.post_message(events.Paste(big))  # as a terminal's paste arrives
            await until(pilot, lambda big=big: len(editor.text) == len(big), timeout=60)
            assert time.thread_time() - start < 2.0
            costs = await key_costs(app, pilot, keys)
            assert statistics.median(costs) < 0.1, costs
            assert max(costs) < 0.2, costs
            assert app.focused is editor
            assert "no highlighting" in text(app, "#sql-complete")
        # Past what the editor holds: refused with a notice, the query as it was.
        before = editor.text
        app.post_message(events.Paste("(" * 1_100_000))
        await until(pilot, lambda: any("not pasted" in str(n.message)
                                       for n in app._notifications))
        assert editor.text == before
        # Small again: highlighted again, and a run still works.
        editor.text = "SELECT count(*) AS n FROM runs"
        assert editor.language == "sql" and editor.soft_wrap
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.query_one("#result").columns == ["n"])
    run_app_test(FakeClient(seeded_db()), body, size=(100, 30))
