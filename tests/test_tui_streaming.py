"""Views that stay true while a sweep trains (issue 20, item 1): with a real lab service, the
phase diagram of a sweep fills in as each unit is stored, without the user doing anything,
until it says done; `r` keeps the experiment shown; a view left while units were stored
reads them on its return; a sweep queued or running with no run stored yet is listed and
chosen, and said to be filling in."""

from __future__ import annotations

import time

import pytest
from service_helpers import experiment, finished, wait_for
from test_tui_support import FakeClient, run_app_test, text, until
from textual.widgets import Select

from moelab.tui.screens.phase import PhaseScreen

pytestmark = pytest.mark.usefixtures("private_dirs")
SLOW_STEPS = 2_000
# A custom metric that takes PACE seconds per run paces the units (one run each) whatever
# the training speed, so that the view has time to see each one stored.
PACE = 0.6
PACE_MODULE = f"import time\n\ndef pace(run):\n    time.sleep({PACE})\n    return 0.0\n"


def sweep(steps: int, paced=None) -> dict:
    """One MoE setup over 3 sparsities × 3 importances, one seed: nine runs; with paced (a
    private folder), each run's unit takes at least PACE seconds."""
    train = {"steps": steps, "batch_size": 64, "seeds": 1, "eval_samples": 200,
             "snapshots": 0}
    if paced is not None:
        (paced / "pace_metric.py").write_text(PACE_MODULE)
        train["metrics"] = [{"name": "pace", "target": "pace_metric:pace", "path": str(paced)}]
    return {
        "model": {"kind": "moe", "k": 1, "n_features": 2, "d_hidden": 1, "n_experts": 2},
        "data": {"importance": "uniform"},
        "train": train,
        "sweep": {"data.sparsity": [0.1, 0.5, 0.9],
                  "data.last_importance": [0.2, 1.0, 2.0]},
    }


def shown_runs(screen: PhaseScreen) -> int:
    return len({r for g in screen.grids for r in g["columns"]["run_id"]})


def test_the_phase_diagram_fills_in_as_each_unit_is_stored(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("MOELAB_UNIT_WORK", "1")  # one run per unit: nine units
    submitter = lab()
    old = submitter.submit(sweep(20), preset="fig4", name="old sweep")
    assert wait_for(lambda: finished(submitter, old), timeout=120)["status"] == "done"
    app_client = lab()

    async def body(app, pilot):
        await until(pilot, lambda: app.current_experiment is not None)  # Runs has loaded
        new = submitter.submit(sweep(SLOW_STEPS, tmp_path), preset="fig4", name="new sweep")
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen))
        screen = app.screen
        # listed while it trains (the view may have opened on the old sweep, read ahead
        # before the new one was queued: picked then, as a user would)
        picker = screen.query_one("#experiment", Select)
        await until(pilot, lambda: any(v == new for _, v in picker._options), timeout=30)
        if screen.experiment != new:
            picker.value = new
        await until(pilot, lambda: screen.experiment == new, timeout=30)
        seen: list[int] = []
        pressed_r = False
        while "done" not in text(app, "#phase-title"):
            n = shown_runs(screen)
            if not seen or seen[-1] != n:
                seen.append(n)
            if len(seen) == 2 and not pressed_r:  # once its first grid shows: r stays on it
                await pilot.press("r")
                pressed_r = True
            assert screen.experiment == new
            await pilot.pause(0.05)
            assert len(seen) < 100 and time.monotonic() < deadline, seen
        assert shown_runs(screen) == 9 and "(done, 9 runs)" in text(app, "#phase-title")
        # the counts grew unit by unit while it trained, with no key pressed but r
        assert len([n for n in seen if 0 < n < 9]) >= 3, seen
        assert seen == sorted(seen), seen

    deadline = time.monotonic() + 240
    run_app_test(app_client, body, size=(120, 40))


def test_a_view_left_while_units_are_stored_reads_them_on_its_return(lab, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setenv("MOELAB_UNIT_WORK", "1")
    submitter = lab()

    async def body(app, pilot):
        eid = submitter.submit(sweep(SLOW_STEPS, tmp_path), preset="fig4", name="sweep")
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen))
        screen = app.screen
        await until(pilot, lambda: screen.experiment == eid and shown_runs(screen) >= 4,
                    timeout=120)
        await pilot.press("1")
        before = experiment(submitter, eid)["runs_stored"]
        await until(pilot, lambda: experiment(submitter, eid)["runs_stored"] > before,
                    timeout=60)
        stored = experiment(submitter, eid)["runs_stored"]
        await pilot.press("3")
        await until(pilot, lambda: shown_runs(screen) >= stored, timeout=5)
    run_app_test(lab(), body, size=(120, 40))


def running_without_runs_db(tmp_path):
    """A lab whose only experiment is a fig4 sweep marked running, no run stored yet."""
    import json

    from moelab.db import open_store
    path = tmp_path / "running.duckdb"
    config = {"name": "fig4 --quick", "sweep": {
        "axes": {"data.sparsity": [0.1, 0.9], "data.last_importance": [0.5, 2.0]},
        "variants": []}}
    with open_store(path) as store:
        exp = store.create_experiment("fig4 --quick", "fig4", json.dumps(config),
                                      status="running")
    return path, exp


def test_a_running_sweep_with_no_run_stored_is_listed_and_said_to_fill_in(tmp_path):
    path, exp = running_without_runs_db(tmp_path)

    async def body(app, pilot):
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen))
        screen = app.screen
        await until(pilot, lambda: screen.experiment == exp)
        labels = [str(label) for label, _ in screen.query_one("#experiment")._options]
        assert any(f"#{exp} fig4 --quick (0 runs, running)" in x for x in labels), labels
        await until(pilot, lambda: "fills in here as its units are stored"
                    in " ".join(str(s.render()) for s in screen.query(".phase-empty")))
        assert "No sweep" not in " ".join(str(s.render()) for s in screen.query(".phase-empty"))
        assert "running, 0 runs" in text(app, "#phase-title")
    run_app_test(FakeClient(path), body, size=(100, 30))
