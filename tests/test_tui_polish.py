"""Daily-driver polish: the New experiment form asks before queueing a sweep over a day (as
`moelab run` does), and the view tab bar fits 100 columns with runs marked."""

from __future__ import annotations

import math

import pytest
from test_tui_support import FakeClient, open_form, run_app_test, seeded_db, text, until

from moelab.tui.screens.prompts import AskButtons

pytestmark = pytest.mark.usefixtures("private_dirs")


def steps_for_days(days: float) -> int:
    """train.steps that make fig4 --quick train for about `days` on this machine, by the
    engine's own estimate (it scales with the cores and a GPU)."""
    from moelab.engine.config import from_dict
    from moelab.engine.estimate import DAY, estimate
    from moelab.engine.presets import get
    raw = get("fig4").raw(True)
    raw["train"]["steps"] = 1000
    per_step = estimate(from_dict(raw, name="x")).seconds / 1000
    return math.ceil(days * DAY / per_step)


async def set_steps(app, pilot, screen, steps: int) -> None:
    screen.inputs["train.steps"].value = str(steps)
    await until(pilot, lambda: f"{400 * steps:,} model-steps" in text(app, "#summary"),
                timeout=30)


def test_queueing_over_a_day_asks_with_the_estimate_and_cancel_queues_nothing():
    client = FakeClient(seeded_db())
    steps = steps_for_days(3)

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        await set_steps(app, pilot, screen, steps)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, AskButtons))
        question = text(app, "#confirm-question")
        assert "more than a day" in question and "engine's estimate: about 3.0 days" in question
        assert "400 models" in question and ("on cpu" in question or "on gpu" in question)
        await pilot.press("enter")  # the focus is on Cancel: Enter keeps the safe answer
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause(0.3)
        assert client.submitted == []
        await pilot.press("ctrl+r")  # asks again; Esc cancels too
        await until(pilot, lambda: isinstance(app.screen, AskButtons))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("ctrl+r")  # ... and the Queue button queues it
        await until(pilot, lambda: isinstance(app.screen, AskButtons))
        await pilot.click("#ask-yes")
        await until(pilot, lambda: len(client.submitted) == 1)
        assert app.screen is screen
    run_app_test(client, body, size=(100, 30))
    raw, preset, quick, _name = client.submitted[0]
    assert raw["train"]["steps"] == steps and preset == "fig4" and quick


def test_queueing_under_a_day_does_not_ask_and_y_answers_queue():
    client = FakeClient(seeded_db())
    long = steps_for_days(2)

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        await pilot.press("ctrl+r")  # fig4 --quick: seconds, queued at once
        await until(pilot, lambda: len(client.submitted) == 1)
        assert not isinstance(app.screen, AskButtons)
        await set_steps(app, pilot, screen, long)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, AskButtons))
        await pilot.press("y")
        await until(pilot, lambda: len(client.submitted) == 2)
    run_app_test(client, body, size=(160, 50))
    assert client.submitted[1][0]["train"]["steps"] == long


def test_this_databases_past_speed_over_a_day_asks_too():
    # fig4 --quick is 400,000 model-steps: seconds by the engine's cost model, 4.6 days at
    # one second a model-step (what this database's past runs say, here).
    client = FakeClient(seeded_db(), reads={"seconds_per_step": lambda: 1.0})

    async def body(app, pilot):
        await open_form(app, pilot)
        await until(pilot, lambda: "(from this database's past runs)" in text(app, "#summary"))
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, AskButtons))
        question = text(app, "#confirm-question")
        assert "past runs: about 4.6 days" in question and "engine's estimate" in question
        await pilot.press("n")
        await pilot.pause(0.3)
        assert client.submitted == []
    run_app_test(client, body, size=(100, 30))


def test_a_sweep_too_big_for_this_machine_is_refused_in_the_form():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        await set_steps(app, pilot, screen, steps_for_days(800))  # over a year
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any("refuses anything over a year" in str(n.message)
                                       for n in app._notifications))
        assert not isinstance(app.screen, AskButtons) and client.submitted == []
    run_app_test(client, body, size=(100, 30))


@pytest.mark.parametrize("width", [100, 160])
def test_the_view_bar_fits_with_runs_marked(width):
    async def body(app, pilot):
        app.set_marks(range(1, 13))  # two-digit count: the widest bar
        await pilot.pause(0.1)
        bar = text(app, "ViewBar")
        assert len(bar) <= width
        assert bar.rstrip().endswith("q back/quit")
        for label in ("1 Runs", "2 New", "3 Phase", "4 Run", "5 Experts", "6 SQL",
                      "7 Compare (12)", "8 Cross", "? help"):
            assert label in bar
        assert ("Runs   2 New" in bar) == (width >= 104)  # roomy: the wide gaps stay
    run_app_test(FakeClient(seeded_db()), body, size=(width, 30))


def test_the_view_bar_follows_the_terminal_width():
    async def body(app, pilot):
        app.set_marks([1, 2, 3])
        for width in (160, 100, 80, 70, 160):
            await pilot.resize_terminal(width, 30)
            await pilot.pause(0.1)
            bar = text(app, "ViewBar")
            assert len(bar) <= width and "? help" in bar and "(3)" in bar, (width, bar)
            assert ("q back/quit" in bar) == (width >= 100)
    run_app_test(FakeClient(seeded_db()), body, size=(160, 30))
