"""Crosscoders on language models (issue 24, item 4): the residual streams of a stored dense
and MoE lm run at one layer, on held-out text. Tiny models, seconds each."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from moelab.cli import main  # noqa: E402
from moelab.db import open_store  # noqa: E402

TINY = ["--set", "model.n_layers=2", "--set", "model.d_model=32", "--set", "model.n_heads=2",
        "--set", "model.context=32", "--set", "model.d_mlp=64", "--set",
        "model.vocab_size=300", "--set", "data.chars=20000", "--set", "train.steps=60",
        "--set", "train.batch_size=8", "--set", "train.eval_tokens=512", "--set",
        "train.snapshots=2"]
CC = ["--latents", "32", "--k", "4", "--shared", "0", "--steps", "300", "--batch-size", "256",
      "--set", "train.eval_samples=2000", "--device", "cpu"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Experiment 1: a tiny lm pair (run 1 dense, run 2 MoE E=4 k=2); experiment 2: its
    crosscoder (run 3)."""
    path = tmp_path_factory.mktemp("lmcc") / "lab.duckdb"
    assert main(["run", "lm-pair", "--quick", *TINY, "--device", "cpu", "--db", str(path)]) == 0
    assert main(["crosscode", "--experiment", "1", *CC, "--db", str(path)]) == 0
    return path


def test_two_copies_of_one_model_give_only_shared_latents(db):
    from moelab.db.reads.crosscoder import source_runs
    from moelab.engine.crosscoder_config import from_dict
    from moelab.engine.families import family
    from moelab.engine.families.crosscoder import CrosscoderRun
    from moelab.engine.families.lm import crosscoder_source as lm_source
    cfg = from_dict({"family": "crosscoder", "source": {"dense_run": 1, "moe_run": 1},
                     "crosscoder": {"n_latents": 32, "k": 4, "n_shared": 0},
                     "train": {"steps": 300, "batch_size": 256, "eval_samples": 2000,
                               "device": "cpu"}})
    with open_store(db) as store:
        src = lm_source.load(store, source_runs(store, [1]), cfg)[1]
    assert src["layer"] == 0 and src["windows"] > 5  # 2 layers: the middle is block 0
    run = CrosscoderRun(0, 0, 1, 1, 0, cfg, src, src)  # the same model as both sources
    tables = family("crosscoder").train([run], "cpu")
    lat = tables["crosscoder_latents"]
    live = [i for i, c in enumerate(lat["class"]) if c != "dead"]
    assert len(live) >= 8
    r = np.array(lat["relative_norm"])[live]
    assert np.abs(r - 0.5).max() < 0.1, r  # each live latent decodes both copies alike
    exclusive = sum(c in ("dense-only", "moe-only") for c in lat["class"])
    assert exclusive == 0
    fve = tables["crosscoders"]
    assert fve["fve_dense"][0] > 0.5 and abs(fve["fve_dense"][0] - fve["fve_moe"][0]) < 0.02
    assert "crosscoder_recovery" not in tables and fve["mcc_dense"] == [None]


def test_an_lm_pair_crosscoder_stores_its_tables_and_every_reader_copes(db, tmp_path):
    with open_store(db) as store:
        names, rows = store.query("SELECT * FROM crosscoders WHERE experiment_id = 2")
        c = dict(zip(names, rows[0], strict=True))
        assert (c["dense_run_id"], c["moe_run_id"], c["d_dense"], c["d_moe"]) == (1, 2, 32, 32)
        assert c["mcc_dense"] is None and c["mcc_moe"] is None
        assert c["n_shared"] + c["n_dense_only"] + c["n_moe_only"] + c["dead_latents"] == 32
        assert 0 < c["fve_dense"] <= 1 and 0 < c["fve_moe"] <= 1
        assert store.query("SELECT count(*) FROM crosscoder_recovery")[1][0][0] == 0
        cfg = store.query("SELECT config FROM runs WHERE run_id = 3")[1][0][0]
        assert '"layer": 0' in cfg  # where it read the models is kept with the run
        from moelab.db.reads.crosscoder import crosscoder_panel
        panel = crosscoder_panel(store, 3)
    from moelab.tui import crosscoder_model as M
    assert panel["features"] == [] and not M.has_truth(panel)
    assert "no ground truth for language models" in M.summary_line(panel["summary"])
    assert M.class_rows(panel["latents"])
    from moelab.figures.lab import connect
    from moelab.figures.report_crosscoder import section
    client = connect(db)
    try:
        text = "\n".join(section(client))
    finally:
        client.close()
    assert "no ground truth for language models" in text and "2 layers, d_model 32" in text
    assert text.count("**Verdict:**") == 3
    out = tmp_path / "r.png"
    assert main(["export", "figure", "crosscoder-relative-norms", "--experiment", "2",
                 "--out", str(out), "--db", str(db)]) == 0 and out.stat().st_size > 0


def test_the_recovery_figure_says_there_is_no_ground_truth(db, tmp_path, capsys):
    assert main(["export", "figure", "crosscoder-recovery", "--experiment", "2", "--out",
                 str(tmp_path / "f.png"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no ground truth for language models" in err, err


@pytest.mark.parametrize("args, says", [
    (["--experiment", "1", "--layer", "2"], "source.layer = 2 is out of range: run 1 has 2 "
                                            "layers (0 to 1)"),
    (["--experiment", "2"], "experiment 2 has no dense and MoE runs"),
    (["1", "3"], "run 3 is a crosscoder model, not a moe one"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(db, args, says, capsys):
    before = db.read_bytes()
    assert main(["crosscode", *args, *CC, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moelab: ") and err.count("\n") == 1 and says in err, err
    assert db.read_bytes() == before
