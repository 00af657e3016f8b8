"""The crosscoder panel (8): a stored crosscoder's relative-norm histogram, latent classes with
densities and feature recovery, drawn from reads in workers; and the empty state."""

from __future__ import annotations

import pytest
from crosscoder_support import crosscoder_db
from test_tui_support import FakeClient, empty_db, run_app_test, until

from moelab.tui import crosscoder_model as M
from moelab.tui.screens.crosscoder import CrosscoderScreen


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))


def _cells(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_panel_shows_histogram_classes_and_recovery_of_a_stored_crosscoder():
    async def body(app, pilot):
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, CrosscoderScreen)
                    and app.screen.panel is not None)
        screen = app.screen
        assert "8 Cross" in str(screen.query_one("ViewBar").render())
        assert screen.run_id == 3 and not screen.query_one("#cc-empty").display
        summary = str(screen.query_one("#cc-summary").render())
        assert "variance explained" in summary and "dead" in summary
        latents = screen.panel["latents"]
        # the histogram holds every live latent once, in the bin of its relative norm
        centres, counts = M.histogram(latents)
        live = [lat for lat in latents if lat["class"] != "dead"]
        assert sum(map(sum, counts.values())) == len(live) == 12 - screen.panel[
            "summary"]["dead_latents"]
        assert counts["designated"][10] == 2  # two tied latents: r = 1/2 exactly
        plt = screen.query_one("#cc-hist").plt
        drawn = plt.uncolorize(plt.build())
        assert "relative decoder norms" in drawn
        assert "designated (tied) 2" in str(screen.query_one("#cc-legend").render())
        classes = _cells(screen.query_one("#cc-classes"))
        by = {r[0].strip(): r for r in classes}
        assert by["of them designated"][1] == "2"
        assert int(by["dead (never fire)"][1]) == screen.panel["summary"]["dead_latents"]
        assert sum(int(by[c][1]) for c in ("shared (all)", "dense-only", "MoE-only",
                                            "dead (never fire)")) == 12
        recovery = _cells(screen.query_one("#cc-recovery"))
        assert sum(int(r[1]) for r in recovery) == 6  # every input feature, by where it is
        for r in recovery:  # a best cosine where the feature is, '–' where it is not
            if r[0] in ("in both", "dense only"):
                assert -1 <= float(r[2]) <= 1 and r[3] != "–"
            if r[0] == "neither":
                assert r[2] == r[4] == "–"
        # F3's figure is drawn from exactly this
        spec = screen.figure_spec()
        assert sum(spec["panels"][0]["values"]) == len(live)
        from moelab.figures.screen import draw
        draw(spec)
    run_app_test(FakeClient(crosscoder_db()), body, size=(140, 40))


def test_empty_database_says_how_to_make_a_crosscoder():
    async def body(app, pilot):
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, CrosscoderScreen)
                    and "moelab crosscode" in str(app.screen.query_one("#cc-empty").render()))
        text = str(app.screen.query_one("#cc-empty").render())
        assert "DENSE_RUN MOE_RUN" in text and "--preset fig1-2" in text
        assert not app.screen.query_one("#cc-body").display
        assert app.screen.figure_spec() is None
    run_app_test(FakeClient(empty_db()), body)


def test_recovery_rows_count_each_model_only_where_the_feature_is():
    feats = [
        {"truth": "shared", "dense_cosine": 0.9, "dense_latent_class": "shared",
         "moe_cosine": 0.8, "moe_latent_class": "moe-only"},
        {"truth": "shared", "dense_cosine": 0.7, "dense_latent_class": "dense-only",
         "moe_cosine": 1.0, "moe_latent_class": "moe-only"},
        {"truth": "dense-only", "dense_cosine": 0.5, "dense_latent_class": "dense-only",
         "moe_cosine": 0.1, "moe_latent_class": "shared"},
    ]
    rows = M.recovery_rows(feats)
    assert rows[0] == ["in both", "2", "0.800", "d 1 · sh 1", "0.900", "m 2"]
    assert rows[1] == ["dense only", "1", "0.500", "d 1", "–", "–"]


def test_histogram_bins_and_class_rows():
    latents = [
        {"designated": True, "class": "shared", "relative_norm": 0.5, "density": 0.2},
        {"designated": False, "class": "dense-only", "relative_norm": 1.0, "density": 0.1},
        {"designated": False, "class": "moe-only", "relative_norm": 0.0, "density": 0.3},
        {"designated": False, "class": "dead", "relative_norm": 0.7, "density": 0.0},
    ]
    centres, counts = M.histogram(latents, bins=10)
    assert centres[0] == 0.05 and counts["dense-only"][9] == 1 and counts["moe-only"][0] == 1
    assert counts["designated"][5] == 1 and sum(map(sum, counts.values())) == 3  # dead: none
    rows = {r[0].strip(): r[1:] for r in M.class_rows(latents)}
    assert rows["dead (never fire)"] == ["1", "0.000", "0.000", "0.000"]
    assert rows["of them designated"][0] == "1" and rows["MoE-only"][1] == "0.300"
