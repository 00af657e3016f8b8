"""Pilot tests for the second walk's traps (issue 20 items 5-8; items 4 and issue 25's 10 in
test_tui_sql_traps.py); each fails on the code before it."""

from __future__ import annotations

import pytest
from crosscoder_support import crosscoder_db
from test_tui_support import FakeClient, open_form, run_app_test, seeded_db, text, until

from moelab.tui import crosscoder_model as M
from moelab.tui.screens.compare import CompareScreen
from moelab.tui.screens.crosscoder import CrosscoderScreen
from moelab.tui.screens.help import HelpScreen
from moelab.tui.screens.runs import RunsScreen

pytestmark = pytest.mark.usefixtures("private_dirs")

LONG_NAME = ("authors' 211.npz 212.npz 213.npz 214.npz 215.npz 216.npz (imported 2025-01-02 "
             "10:11)")[:80]


def long_named_panel(client):
    """The stored experiments, the first renamed as an import of many files is named."""
    def panel(**params):
        rows = client.direct.read("experiments_panel", **params)
        rows[0] = {**rows[0], "name": LONG_NAME, "status": "running", "progress": 0.5}
        return rows
    return panel


def test_runs_long_experiment_name_keeps_status_and_progress_on_screen():
    client = FakeClient(seeded_db())
    client.reads["experiments_panel"] = long_named_panel(client)

    async def body(app, pilot):
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.experiments)
        table = app.screen.query_one("#experiments")
        await pilot.pause()
        first = "".join(seg.text for seg in table.render_line(1))  # line 0: the header
        assert "running" in first and "50%" in first, first
        assert LONG_NAME[:20] in first and "…" in first
        header = "".join(seg.text for seg in table.render_line(0))
        assert "progress" in header and "runs" in header
        # Enter shows the experiment's runs and names it in full.
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "experiment" in text(app, "#runs-caption"))
        assert LONG_NAME in text(app, "#runs-caption").replace("\n", "")
    run_app_test(client, body, size=(100, 30))


def test_compare_groups_say_seeds_and_the_band_stays_within_the_data():
    # Two seeds of one point whose loss curves are far apart early: the 95% band (t = 12.7)
    # would reach to about -4.5.
    curves = {"1": [[0, 1.0], [10, 0.1]], "2": [[0, 0.2], [10, 0.05]]}
    client = FakeClient(seeded_db(), reads={"compare_curves": lambda **p: curves})

    async def body(app, pilot):
        app.set_marks({1, 2})  # runs 1 and 2: one sweep point, seeds 0 and 1
        await pilot.press("7")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.groups)
        screen = app.screen
        assert [g.label for g in screen.groups] == ["same config (2 seeds)"]
        assert "n=" not in text(app, "#compare-table") + str(screen.groups)
        plotted = [v for ys in screen.query_one("#compare-plot").plt._active.monitor.y
                   for v in ys]
        assert min(plotted) >= 0.05 and max(plotted) <= 1.0, plotted
        assert "band cut" in screen.query_one("#compare-plot").plt._active.monitor.title
        spec = screen.figure_spec()["panels"][0]  # F3 draws the same band
        assert min(spec["series"][0]["lo"]) >= 0.05 and "band cut" in spec["title"]
    run_app_test(client, body, size=(140, 45))


def test_crosscoder_histogram_legend_is_beside_the_bars_not_on_them():
    async def body(app, pilot):
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, CrosscoderScreen)
                    and app.screen.panel is not None)
        screen = app.screen
        await pilot.pause()
        plot = screen.query_one("#cc-hist")
        drawn = plot.plt.uncolorize(plot.plt.build())
        for label, _, _ in M.CLASSES.values():
            assert label not in drawn  # no key drawn over the bars
        key = screen.query_one("#cc-legend")
        _, counts = M.histogram(screen.panel["latents"])
        shown = [c for c in M.CLASSES if any(counts[c])]
        assert shown
        for c in shown:
            assert f"{M.CLASSES[c][0]} {sum(counts[c])}" in str(key.render())
        assert key.region.height and not key.region.overlaps(plot.region)
    run_app_test(FakeClient(crosscoder_db()), body, size=(100, 30))


def test_form_checks_a_field_every_variant_overrides_per_variant_not_against_the_base():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        screen = await open_form(app, pilot)  # fig4: every variant sets model.k
        screen.inputs["model.k"].value = "2"  # the base's n_experts is 1
        await until(pilot, lambda: "changes nothing" in text(app, "#problems")
                    and "✓" in text(app, "#summary"), timeout=30)
        assert "✗" not in text(app, "#problems")
        # A variant that takes k from the base, with two experts: k = 2 is fine for it ...
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "✓" in text(app, "#summary")
                    and "9 variants" in text(app, "#summary"), timeout=30)
        assert text(app, "#problems") == ""  # no longer every variant: the edit counts
        # ... and with one expert it is not: still checked, per variant.
        screen.variant_inputs[-1].value = "model.n_experts = 1"
        await until(pilot, lambda: "✗" in text(app, "#problems"), timeout=30)
        assert "k" in text(app, "#problems")
        screen.variant_inputs[-1].value = "model.n_experts = 2"
        await until(pilot, lambda: "✓" in text(app, "#summary"), timeout=30)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(client.submitted) == 1, timeout=30)
    run_app_test(client, body, size=(120, 40))
    raw = client.submitted[0][0]
    assert raw["model"]["k"] == 2 and raw["sweep"]["variants"][-1] == {"model": {"n_experts": 2}}


def test_form_ctrl_u_empties_the_whole_field():
    async def body(app, pilot):
        screen = await open_form(app, pilot)
        steps = screen.inputs["train.steps"]
        steps.focus()
        await pilot.press("home", "right")  # the cursor inside the value
        await pilot.press("ctrl+u")
        assert steps.value == ""  # the whole field, not only left of the cursor
    run_app_test(FakeClient(seeded_db()), body, size=(120, 40))


def test_form_arrows_move_between_fields():
    async def body(app, pilot):
        screen = await open_form(app, pilot)
        fields = list(screen.inputs.values())
        i = list(screen.inputs).index("train.steps")
        fields[i].focus()
        await pilot.press("down")
        assert app.focused is fields[i + 1]
        await pilot.press("up", "up")
        assert app.focused is fields[i - 1]
        screen.query_one("#name").focus()
        await pilot.press("down")
        assert app.focused is fields[0]
        fields[-1].focus()
        await pilot.press("down")
        assert app.focused is screen.variant_inputs[0]
    run_app_test(FakeClient(seeded_db()), body, size=(120, 40))


def test_form_help_promises_only_what_the_form_has():
    async def body(app, pilot):
        await open_form(app, pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_text = str(app.screen.query_one("Static").render())
        assert "✕" not in help_text  # the form has no such button
        assert "ctrl+u empties" in help_text and "↑ ↓ move between fields" in help_text
    run_app_test(FakeClient(seeded_db()), body, size=(120, 40))


def test_form_clears_the_name_after_queueing():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        await open_form(app, pilot)
        app.screen.query_one("#name").value = "lb off"
        await pilot.pause(0.3)  # the name is checked with the form
        await until(pilot, lambda: "✓" in text(app, "#summary"), timeout=30)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(client.submitted) == 1, timeout=30)
        await until(pilot, lambda: app.screen.query_one("#name").value == "")
        await pilot.pause(0.3)  # the cleared name is checked again
        await until(pilot, lambda: "✓" in text(app, "#summary"), timeout=30)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(client.submitted) == 2, timeout=30)
    run_app_test(client, body, size=(120, 40))
    assert client.submitted[0][3] == "lb off"
    assert client.submitted[1][3] in (None, "fig4 --quick")  # the preset's default name


def test_form_estimate_leaves_out_imported_runs(tmp_path):
    import shutil

    from test_npz_import import write_npz

    from moelab.cli import main
    from moelab.db import open_store
    from moelab.tui.format import duration

    db = tmp_path / "lab.duckdb"
    shutil.copy(seeded_db(), db)
    # Imported runs: the authors' 5,000 steps each and no training time.
    for i in range(3):
        npz = write_npz(tmp_path / f"{i}.npz")
        assert main(["import", "npz", str(npz), "--db", str(db)]) == 0
    with open_store(db, read_only=True) as store:
        _, rows = store.query("SELECT sum(train_seconds) / sum(steps) FROM runs "
                              "WHERE imported_from IS NULL")
    trained = rows[0][0]
    client = FakeClient(db)

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        await until(pilot, lambda: screen.seconds_per_step is not None
                    and "about" in text(app, "#summary"), timeout=30)
        assert screen.seconds_per_step == pytest.approx(trained)
        expected = duration(screen.checked.model_steps * trained)
        assert f"about {expected} " in text(app, "#summary")
    run_app_test(client, body, size=(120, 40))


def test_moelab_run_checks_a_base_field_with_each_variants_values():
    from moelab.engine.config import ConfigError, from_dict
    from moelab.engine.sweep import expand
    ok = {"model": {"k": 2}, "sweep": {"variants": [{"model": {"n_experts": 2}},
                                                     {"model": {"kind": "dense"}}]}}
    assert [r.model.k for r in expand(from_dict(ok))] == [2, 1]
    bad = {"model": {"k": 2}, "sweep": {"variants": [{"model": {"n_experts": 2}},
                                                      {"model": {"n_experts": 1}}]}}
    with pytest.raises(ConfigError, match="k"):
        from_dict(bad)
    with pytest.raises(ConfigError, match="k"):
        from_dict({"model": {"k": 2}})  # no variants: the base is what trains
