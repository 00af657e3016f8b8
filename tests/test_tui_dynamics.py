"""The run screen's step scrubber (issue 14): < and > redraw the Gram matrix, the norms and
the routing at each snapshot step, and the last step is the final weights again."""

from __future__ import annotations

import pytest
from test_tui_support import FakeClient, run_app_test, seeded_db, until

from moelab.tui.screens.run_detail import RunDetailScreen


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))


def test_the_step_scrubber_walks_the_snapshots_and_back_to_the_final_weights():
    """One seeded database (training it takes a while) for both cases."""
    from moelab.engine.client import DirectClient
    db = seeded_db()  # fig5 --quick (experiment 2) records the presets' 8 snapshots
    with DirectClient(db) as c:
        run_id = c.sql("SELECT run_id FROM runs WHERE experiment_id = 2 LIMIT 1")[1][0][0]
        steps = c.read("snapshot_steps", run_id=run_id)
        first = c.read("run_detail_at_step", run_id=run_id, step=steps[-2])
    assert len(steps) == 8 and steps[0] == 0

    def title(app) -> str:
        return str(app.screen.query_one("#run-title").render())

    async def body(app, pilot):
        app.open_run(run_id)
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                    and app.screen.detail is not None)
        final_gram = app.screen.detail["experts"][0]["gram"]
        await pilot.press("comma")  # one step back from the final weights
        await until(pilot, lambda: f"step {steps[-2]} of {steps[-1]}" in title(app))
        assert app.screen.detail["experts"][0]["gram"] == first["experts"][0]["gram"]
        for _ in range(len(steps)):  # past the first snapshot: stays at step 0
            await pilot.press("comma")
        await until(pilot, lambda: f"step 0 of {steps[-1]}" in title(app))
        for _ in range(len(steps)):
            await pilot.press("full_stop")
        await until(pilot, lambda: "final weights" in title(app))
        assert app.screen.detail["experts"][0]["gram"] == final_gram
        # a run trained without snapshots (fig4-tiny) says so and stays as it is
        await pilot.press("escape")
        app.open_run(1)
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                    and app.screen.detail is not None and app.screen.run_id == 1)
        await pilot.press("full_stop")
        await pilot.pause(0.5)
        assert app.screen.snap_step is None and app.screen.snap_steps == []
        assert "final weights" not in title(app)
    run_app_test(FakeClient(db), body)
