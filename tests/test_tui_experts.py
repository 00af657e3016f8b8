"""The Experts view (5): Table 1 under both usage definitions, each labelled as the
usage-table export and REPORT.md label it (issue 12), and the MoE Lens panel (issue 14):
the stored numbers of an MoE run, top-1 numbers only for k > 1, "does not apply" for dense."""

from __future__ import annotations

import pytest
from test_tui_support import FakeClient, run_app_test, seeded_db, text, until

from moelab.engine.client import DirectClient
from moelab.tui.screens.experts import ExpertsScreen, header


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))


def stored(read: str, **params):
    with DirectClient(seeded_db()) as c:
        return c.read(read, **params)


def chosen_runs(where: str) -> list[int]:
    with DirectClient(seeded_db()) as c:
        _, rows = c.sql(f"SELECT run_id FROM runs WHERE chosen AND {where} ORDER BY run_id")
    return [r[0] for r in rows]


async def open_experts(app, pilot, experiment: int, run: int | None = None) -> None:
    """The Experts view on `experiment` with `run` as the app's current run (set after the
    Runs view, whose highlighted row sets the current experiment, has loaded)."""
    await pilot.press("5")
    await until(pilot, lambda: isinstance(app.screen, ExpertsScreen)
                and app.screen.query_one("#lens").shown is not None)
    app.current_experiment, app.current_run = experiment, run
    app.screen.load(experiment)
    panel = app.screen.query_one("#lens")

    def shown() -> bool:
        value = panel.shown
        return (value is not None and value["run"]["experiment_id"] == experiment
                and run in (None, value["run"]["run_id"])
                and app.screen.query_one("#table1").row_count > 0)
    await until(pilot, shown)


def test_table1_shows_both_usage_definitions_labelled_as_the_export():
    from moelab.figures.usage import MARKDOWN_HEADER
    expected = stored("table1_by_setup", experiment_id=3)

    async def body(app, pilot):
        await open_experts(app, pilot, 3)
        table = app.screen.query_one("#table1")
        labels = [str(c.key.value) for c in table.columns.values()]
        assert labels[-6:] == list(MARKDOWN_HEADER[3:])  # train ×3, then dense (authors') ×3
        shown = [str(c.label) for c in table.columns.values()]
        assert shown[-3] == "mean usage %\n(dense, authors')" == header(labels[-3])
        assert "(train)" in text(app, "#t1-title") and "(dense, authors')" in text(app, "#t1-title")
        for i, row in enumerate(expected):
            cells = table.get_row_at(i)
            for col, value in zip(("usage", "usage_dense"), (cells[-6], cells[-3]), strict=True):
                assert value == ("∅" if row[col] is None else f"{row[col] * 100:.1f}")
        assert any(r["usage_dense"] != r["usage"] for r in expected)  # two measures, not one
        spec = app.screen.figure_spec()
        assert spec["panels"][0]["columns"][-6:] == list(MARKDOWN_HEADER[3:])
    run_app_test(FakeClient(seeded_db()), body)


def test_lens_panel_shows_the_stored_numbers_of_an_moe_run_and_steps_through_runs():
    runs = stored("lens_choices", experiment_id=3)["run_ids"]  # by setup and cell
    assert sorted(runs) == chosen_runs("experiment_id = 3")
    run_id = runs[1]
    lens = stored("lens_run", run_id=run_id)

    async def body(app, pilot):
        await open_experts(app, pilot, 3, run_id)
        panel = app.screen.query_one("#lens")
        assert f"run {run_id} (2 of {len(runs)}" in text(app, "#lens-title")
        numbers = text(app, "#lens-numbers")
        assert f"top expert {lens['top_share'] * 100:.1f} %" in numbers
        assert f"top quarter (1 of 3) {lens['top_quarter_share'] * 100:.1f} %" in numbers
        assert f"entropy {lens['routing_entropy']:.3g} nats" in numbers
        assert "k = 1" in numbers and "cosine" not in numbers  # top-1 numbers need k > 1
        experts = app.screen.query_one("#lens-experts")
        assert experts.display and experts.row_count == 3
        for i, e in enumerate(lens["experts"]):  # removing each expert, numbered from 0
            assert experts.get_row_at(i) == [str(i), f"{e['usage'] * 100:.1f}",
                                             f"{e['ablation_loss']:.3g}",
                                             f"{e['ablation_loss_ratio']:.3g}"]
        setups = app.screen.query_one("#lens-setups")
        assert setups.row_count == 2  # the table1 preset's two router inits
        assert "E=3 k=1" in str(setups.get_row_at(0)[0])
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: panel.shown["run"]["run_id"] == runs[2])
        assert app.current_run == runs[2] and f"run {runs[2]} (3 of" in text(app, "#lens-title")
        assert app.screen.figure_spec()["panels"][-1]["title"].startswith(f"MoE Lens, run "
                                                                           f"{runs[2]}")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await until(pilot, lambda: panel.shown["run"]["run_id"] == runs[0])
    run_app_test(FakeClient(seeded_db()), body)


def test_lens_panel_shows_top1_numbers_when_k_is_above_1():
    run_id = chosen_runs("experiment_id = 3")[0]

    def k2(run_id):  # a stored run's answer, as if it had k = 2
        with DirectClient(seeded_db()) as c:
            out = c.read("lens_of_run", run_id=run_id)
        out["run"]["k"] = 2
        out["lens"].update(top1_cosine=0.9312, top1_loss=0.25, full_loss=0.2,
                           top1_loss_ratio=1.25)
        return out

    async def body(app, pilot):
        await open_experts(app, pilot, 3, run_id)
        numbers = text(app, "#lens-numbers")
        assert "top-1 (k = 2): cosine with the full output 0.931" in numbers
        assert "loss 1.25 × full (0.25 vs 0.2)" in numbers
    run_app_test(FakeClient(seeded_db(), reads={"lens_of_run": k2}), body)


def test_lens_panel_says_it_does_not_apply_to_dense_runs():
    dense = chosen_runs("experiment_id = 1 AND kind = 'dense'")[0]

    async def body(app, pilot):
        await open_experts(app, pilot, 1, dense)
        assert "dense" in text(app, "#lens-title")
        assert "does not apply to dense runs" in text(app, "#lens-numbers")
        assert not app.screen.query_one("#lens-experts").display
        assert app.screen.figure_spec()["panels"][-1]["type"] != "table" or \
            "MoE Lens" not in app.screen.figure_spec()["panels"][-1]["title"]
    run_app_test(FakeClient(seeded_db()), body)

    def dense_only(experiment_id):
        return {"run_ids": [dense], "n_moe": 0, "setups": []}

    async def no_moe(app, pilot):
        await open_experts(app, pilot, 1)
        setups = app.screen.query_one("#lens-setups")
        assert "MoE Lens does not apply to dense runs" in str(setups.get_row_at(0)[0])
    run_app_test(FakeClient(seeded_db(), reads={"lens_choices": dense_only}), no_moe)
