"""MoE Lens of the lm family in the views (issue 24, item 3): the Experts view's Lens panel
on a tiny stored lm pair, per domain and layer and per domain, from the stored rows."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from lm_support import train_tiny_pair  # noqa: E402
from test_tui_support import FakeClient, run_app_test, text, until  # noqa: E402

from moelab.engine.client import DirectClient  # noqa: E402
from moelab.tui.screens.experts import ExpertsScreen  # noqa: E402


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(scope="module")
def lm_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("lm") / "lab.duckdb"
    return db, train_tiny_pair(db)


def test_the_read_gives_moe_models_layers_and_domains_and_none_for_toys(lm_db):
    db, eid = lm_db
    with DirectClient(db) as c:
        panel = c.read("lm_lens_panel", experiment_id=eid)
        assert c.read("lm_lens_panel", experiment_id=eid + 1) is None
    assert [r["n_experts"] for r in panel["runs"]] == [4] and panel["n_dense"] == 1
    assert {(r["domain"], r["layer"]) for r in panel["lens"]} == {
        (d, layer) for d in ("code", "data", "docs") for layer in (0, 1)}
    for d in panel["domains"]:  # the worst removal is the largest of the stored ones
        assert d["perplexity_top1"] > 0 and d["worst_increase"] >= d["mean_increase"]
        assert d["worst_layer"] in (0, 1) and 0 <= d["worst_expert"] < 4


def test_the_lens_panel_shows_an_lm_moe_per_domain_and_layer(lm_db):
    db, eid = lm_db
    with DirectClient(db) as c:
        panel = c.read("lm_lens_panel", experiment_id=eid)
    run = panel["runs"][0]

    async def body(app, pilot):
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, ExpertsScreen))
        app.current_experiment = eid
        app.screen.load(eid)
        lm = app.screen.query_one("#lmlens")
        await until(pilot, lambda: lm.panel is not None
                    and app.screen.query_one("#lmlens-domains").row_count == 3)
        assert lm.display and not app.screen.query_one("#lens").display
        assert f"lm run {run['run_id']} (1 of 1" in text(app, "#lmlens-title")
        assert "E=4 k=2" in text(app, "#lmlens-title")
        layers = app.screen.query_one("#lmlens-layers")
        assert layers.row_count == 6
        first = next(r for r in panel["lens"] if r["domain"] == "code" and r["layer"] == 0)
        cells = layers.get_row_at(0)
        assert cells[:2] == ["code", "0"]
        assert cells[2] == f"{first['share_top1'] * 100:.1f}"
        assert cells[5] == f"{first['cos_hidden']:.3g}"
        ratio = first["lens_perplexity_top1"] / first["lens_perplexity"]
        assert cells[6] == f"{ratio:.4g}"
        dom = app.screen.query_one("#lmlens-domains").get_row_at(0)
        d = panel["domains"][0]
        assert dom[0] == d["domain"] and dom[3] == f"{d['top1_increase'] * 100:.1f}"
        assert dom[5] == f"{d['worst_expert']} ({d['worst_layer']})"
        titles = [p["title"] for p in app.screen.figure_spec()["panels"]]
        assert any(t.startswith("MoE Lens per domain and layer, lm run") for t in titles)
        await pilot.press("right_square_bracket")  # one MoE model: stays on it
        assert lm.position == 0 and app.current_run == run["run_id"]
    run_app_test(FakeClient(db), body, size=(160, 50))


def test_export_figure_lm_lens_writes_a_png_and_refuses_an_experiment_without_lms(
        lm_db, tmp_path, capsys):
    from moelab.cli import main
    from moelab.db import open_store
    db, eid = lm_db
    out = tmp_path / "lm.png"
    assert main(["export", "figure", "lm-lens", "--experiment", str(eid), "--out", str(out),
                 "--db", str(db)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with open_store(db) as store:  # an experiment that holds no language model
        empty = store.create_experiment("empty", None, '{"family": "lm"}', status="done")
    capsys.readouterr()
    bad = tmp_path / "none.png"
    assert main(["export", "figure", "lm-lens", "--experiment", str(empty), "--out", str(bad),
                 "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moelab: ") and err.count("\n") == 1 and "no language models" in err
    assert not bad.exists()


def test_report_sets_the_lm_numbers_beside_moe_lens_with_verdicts(lm_db, tmp_path):
    from moelab.figures.report import write_report
    db, eid = lm_db
    with DirectClient(db) as c:
        panel = c.read("lm_lens_panel", experiment_id=eid)
        write_report(c, [], tmp_path / "REPORT.md", quick=True, seeds=None, train_seconds=0,
                     total_seconds=0, db_path=db)
    text = (tmp_path / "REPORT.md").read_text()
    part = text[text.index("## MoE Lens on small language models"):]
    assert f"### Experiment {eid}" in part
    run = panel["runs"][0]
    assert f"Model size: 2 layers, d_model 32, E = 4, k = 2: {run['n_params']:,} weights" in part
    assert "DeepSeekMoE 16B" in part
    answers = [ln for ln in part.splitlines() if ln.startswith("**Answer:** ")]
    assert len(answers) == 3 and part.count("**Question:**") == 3
    assert all(a.split()[1] in ("agrees:", "partly:", "differs:") for a in answers)
    best = [max(r["cos_hidden"] for r in panel["lens"] if r["domain"] == d)
            for d in ("code", "data", "docs")]  # the best layer's cosine per domain
    assert f"range {min(best):.3f} to {max(best):.3f} over models and domains" in answers[0]


@pytest.mark.parametrize("values, higher, word", [
    ([0.96, 0.97, 0.95], True, "agrees"),  # every domain at MoE Lens' 0.95
    ([0.85, 0.84, 0.86], True, "partly"),
    ([0.5, 0.6, 0.55], True, "differs"),
    ([0.95, 0.95, 0.95, 0.2], True, "partly"),  # differs, but only because of one sample
    ([0.04, 0.06, 0.05], False, "agrees"),  # a rise of about 5 %
    ([0.4, 0.5, 0.45], False, "differs"),
])
def test_mean_band_verdicts_on_constructed_numbers(values, higher, word):
    from moelab.figures.report_lm import mean_band
    agree, partly = (0.9, 0.8) if higher else (0.10, 0.25)
    assert mean_band(values, agree, partly, higher)[0] == word
