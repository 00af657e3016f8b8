"""Crosscoder presets in `moelab presets` and `moelab run`, and the one definition of a dead
latent (fires on none of the evaluation inputs) beside training's idle count."""

from __future__ import annotations

import numpy as np
from crosscoder_support import crosscoder_db

from moelab.cli import main
from moelab.engine.crosscoder import LOGGED
from moelab.engine.crosscoder_metrics import latent_classes


def test_presets_lists_the_crosscoder_presets_with_their_sizes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "fig4" in out  # the toy presets are still there
    for line in ("crosscoder-fig1-2 │ 15 + 10", "crosscoder-fig3   │ 12 + 9"):
        assert line in out, out
    assert "moelab run NAME [--quick]" in out and "40-latent crosscoder" in out


def test_run_takes_a_crosscoder_preset_as_crosscode_does(monkeypatch, tmp_path):
    import moelab.cmd_crosscode as cc
    seen = []
    monkeypatch.setattr(cc, "crosscode", lambda args: seen.append(args) or 0)
    db = str(tmp_path / "lab.duckdb")
    assert main(["run", "crosscoder-fig3", "--quick", "--set", "crosscoder.k=4",
                 "--device", "cpu", "--db", db]) == 0
    (args,) = seen
    assert (args.preset, args.quick, args.sets, args.device) == (
        "fig3", True, ["crosscoder.k=4"], "cpu")
    assert args.dense_run is args.experiment is args.latents is None


def test_run_refuses_an_unknown_crosscoder_preset_and_toy_options(tmp_path, capsys):
    db = tmp_path / "lab.duckdb"
    for args, says in ((["crosscoder-fig9"], "crosscoder presets: crosscoder-fig1-2, "
                        "crosscoder-fig3"),
                       (["crosscoder-fig1-2", "--sweep", "train.steps=1,2"],
                        "--sweep apply to toy-model experiments")):
        assert main(["run", *args, "--db", str(db)]) == 2
        assert says in capsys.readouterr().err
    assert not db.exists()


def test_a_dead_latent_is_one_that_never_fires_on_the_evaluation_batch():
    # designated or not, a latent with density 0 is dead; one that fires once is not
    r = np.array([0.5, 0.5, 0.95, 0.05, 0.5])
    density = np.array([0.0, 0.1, 0.0, 1e-4, 0.2])
    assert list(latent_classes(r, density, 2, 0.1)) == [
        "dead", "shared", "dead", "moe-only", "shared"]
    # training logs the other count under its own name
    assert "idle_latents" in LOGGED and "dead" not in LOGGED


def test_stored_and_shown_dead_latents_agree():
    from moelab.engine.client import DirectClient
    with DirectClient(crosscoder_db()) as c:
        (row,) = c.sql("SELECT c.dead_latents, "
                       "  (SELECT count(*) FROM crosscoder_latents l WHERE l.run_id = c.run_id "
                       "   AND l.class = 'dead'), "
                       "  (SELECT count(*) FROM crosscoder_latents l WHERE l.run_id = c.run_id "
                       "   AND l.density = 0) FROM crosscoders c")[1]
        assert row[0] == row[1] == row[2]
        panel = c.read("crosscoder_panel", run_id=3)
        names = {r[0] for r in c.sql("SELECT DISTINCT name FROM metrics WHERE run_id = 3")[1]}
    from moelab.tui.crosscoder_model import class_rows
    shown = {r[0]: int(r[1]) for r in class_rows(panel["latents"])}
    assert shown["dead (never fire)"] == row[0]
    assert "idle_latents" in names and "dead" not in names
