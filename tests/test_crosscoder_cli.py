"""Crosscoders (issue 15) through the store, the lab service's planning and the command line:
units carry the weights they need, the service plans through the family, every bad input is
one line with exit status 2 and nothing written."""

from __future__ import annotations

import dataclasses

import pytest

from moelab.cli import main
from moelab.db import open_store
from moelab.engine.config import ConfigError, from_dict
from moelab.engine.executors.inprocess import InProcessExecutor
from moelab.engine.families import family
from moelab.engine.plan import Unit, plan
from moelab.engine.service.configs import submitted_config
from moelab.engine.unit import run_unit

N = 6  # input features of the fixture's models


def _models(store, raw: dict) -> int:
    cfg = from_dict(raw)
    units = plan(cfg, 0, unit_work=1e15)
    eid = store.create_experiment("models", None, cfg.to_json(), status="running")
    store.set_plan(eid, sum(u.n_runs for u in units), len(units), 1e15)
    for u in units:
        r = run_unit(dataclasses.replace(u, experiment_id=eid))
        store.write_unit(eid, u.index, r.tables, r.meta(), dict(u.point_sizes))
    return eid


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Experiment 1: dense m=2 and MoE E=2 m=1 on the same data, seeds 0 and 1 (runs 1-4:
    dense 0, dense 1, MoE 0, MoE 1). Experiment 2: an MoE on 8 features (run 5), an MoE on
    other data (run 6) and an MoE of width 3 (run 7)."""
    path = tmp_path_factory.mktemp("cc") / "lab.duckdb"
    train = {"steps": 60, "batch_size": 64, "eval_samples": 200, "log_every": 20,
             "seeds": 2, "select": "all"}
    with open_store(path) as store:
        _models(store, {"model": {"kind": "moe", "n_features": N, "n_experts": 2,
                                  "d_hidden": 1},
                        "data": {"sparsity": 0.8}, "train": train,
                        "sweep": {"variants": [{"model": {"kind": "dense", "d_hidden": 2}},
                                               {"model": {}}]}})
        _models(store, {"model": {"kind": "moe", "n_features": N, "n_experts": 2,
                                  "d_hidden": 1},
                        "data": {"sparsity": 0.8}, "train": {**train, "seeds": 1},
                        "sweep": {"variants": [{"model": {"n_features": 8}},
                                               {"data": {"sparsity": 0.5}},
                                               {"model": {"n_experts": 3}}]}})
        kinds = store.query("SELECT run_id, kind, n_features FROM runs ORDER BY run_id")[1]
    assert [k[1] for k in kinds] == ["dense", "dense", "moe", "moe", "moe", "moe", "moe"]
    return path


TINY = ["--steps", "20", "--latents", "8", "--k", "1", "--shared", "1", "--batch-size", "64",
        "--set", "train.eval_samples=500"]


@pytest.mark.parametrize("args, says", [
    (["1", "5"], "different n_features (6 and 8)"),
    (["1", "6"], "trained on different data (data.sparsity 0.8 vs 0.5)"),
    (["3", "1"], "run 3 is a moe model, not a dense one"),
    (["1", "99"], "no run with id 99"),
    (["1", "7", "--shared", "2"], "needs equal widths (dense 2, MoE 3)"),
    (["1", "3", "--latents", "0"], "crosscoder.n_latents must be at least 1"),
    (["1", "3", "--latents", "70000"], "crosscoder.n_latents must be at most 65536"),
    (["1", "3", "--k", "0"], "crosscoder.k must be at least 1"),
    (["1", "3", "--latents", "8", "--k", "9"], "k = 9 is more than crosscoder.n_latents = 8"),
    (["--experiment", "42"], "no experiment with id 42"),
    (["1"], "give both runs"),
    ([], "give DENSE_RUN MOE_RUN, or --experiment ID, or --preset NAME"),
    (["--preset", "fig9"], "unknown crosscoder preset"),
    (["1", "3", "--set", "crosscoder.latents=3"], "unknown field crosscoder.latents"),
])
def test_bad_inputs_are_one_line_exit_2_and_write_nothing(db, args, says, capsys):
    before = db.read_bytes()
    assert main(["crosscode", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and says in err, err
    assert db.read_bytes() == before


def test_crosscode_a_pair_stores_its_latents_and_recovery(db, capsys):
    assert main(["crosscode", "1", "3", *TINY, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "variance explained" in out and "MoE E=2 k=1 m=1" in out
    with open_store(db) as store:
        eid = store.query("SELECT max(experiment_id) FROM experiments")[1][0][0]
        (run_id, kind, status), = store.query(
            "SELECT run_id, kind, status FROM runs WHERE experiment_id = ?", [eid])[1]
        assert kind == "crosscoder" and status == "done"
        names, rows = store.query("SELECT * FROM crosscoders WHERE run_id = ?", [run_id])
        c = dict(zip(names, rows[0], strict=True))
        assert (c["dense_run_id"], c["moe_run_id"], c["d_dense"], c["d_moe"]) == (1, 3, 2, 2)
        assert c["n_shared"] + c["n_dense_only"] + c["n_moe_only"] + c["dead_latents"] == 8
        latents = store.query("SELECT count(*), count(*) FILTER (WHERE designated), "
                              "max(abs(relative_norm - 0.5)) FILTER (WHERE designated) "
                              "FROM crosscoder_latents WHERE run_id = ?", [run_id])[1][0]
        assert latents[:2] == (8, 1) and latents[2] < 1e-6  # tied: r = 1/2 exactly
        # per feature: the whole space of each model, and each of the MoE's two experts
        assert store.query("SELECT count(*) FROM crosscoder_recovery WHERE run_id = ?",
                           [run_id])[1][0][0] == N * (2 + 2)
        assert store.query("SELECT count(*) FROM crosscoder_features WHERE run_id = ?",
                           [run_id])[1][0][0] == N
        names = {r[0] for r in store.query("SELECT DISTINCT name FROM metrics WHERE "
                                           "run_id = ?", [run_id])[1]}
        assert {"loss", "rec_loss", "aux_loss", "idle_latents", "k"} <= names


def test_units_carry_their_inputs_and_train_without_the_store(db):
    fam = family("crosscoder")
    cfg = fam.submitted({"family": "crosscoder", "source": {"experiment": 1},
                         "crosscoder": {"n_latents": 8, "k": 1, "n_shared": 1},
                         "train": {"steps": 20, "batch_size": 32, "seeds": 2}})
    with open_store(db) as store:
        units = fam.plan(cfg, 9, unit_work=1e15, store=store)
    assert [u.run_indices for u in units] == [(0, 1, 2, 3)]  # 2 pairs x 2 seeds, one shape
    unit = Unit.from_json(units[0].to_json())
    assert unit == units[0] and '"sources"' in unit.inputs
    tables = run_unit(unit).tables  # no store anywhere on this path
    assert list(tables["crosscoders"]["moe_run_id"]) == [3, 3, 4, 4]
    assert list(tables["runs"]["seed"]) == [0, 1, 0, 1]


def test_the_service_plans_a_crosscoder_through_its_family(db, tmp_path):
    from moelab.engine.service.core import LabService
    from moelab.engine.service.paths import ServicePaths
    raw = {"family": "crosscoder", "source": {"dense_run": 2, "moe_run": 4},
           "crosscoder": {"n_latents": 8, "k": 1, "n_shared": 1},
           "train": {"steps": 20, "batch_size": 32}}
    with open_store(db) as store:
        with pytest.raises(ConfigError, match="no run with id 77"):
            submitted_config({**raw, "source": {"dense_run": 2, "moe_run": 77}}, store=store)
        with pytest.raises(ConfigError, match="unknown model family 'sae'"):
            submitted_config({"family": "sae"}, store=store)
        svc = LabService(store, ServicePaths.of(db), executor=InProcessExecutor())
        eid = svc.submit(config=raw, name="cc")
        job = svc.claim_next()
        assert job.experiment_id == eid
        svc.scheduler.run_job(job)
        row = store.experiment(eid)
        assert row["status"] == "done", row["message"]
        assert store.query("SELECT count(*) FROM crosscoders c JOIN runs r USING (run_id) "
                           "WHERE r.experiment_id = ?", [eid])[1][0][0] == 1


@pytest.fixture(scope="module")
def crosscoded(db):
    """Crosscoders of every pair of experiment 1 (2 pairs x 2 seeds): their experiment id."""
    assert main(["crosscode", "--experiment", "1", "--seeds", "2", *TINY, "--db", str(db)]) == 0
    with open_store(db) as store:
        return store.query("SELECT max(experiment_id) FROM experiments")[1][0][0]


@pytest.mark.parametrize("kind", ["crosscoder-relative-norms", "crosscoder-densities",
                                  "crosscoder-recovery"])
def test_figures_export(db, crosscoded, kind, tmp_path):
    out = tmp_path / f"{kind}.png"
    assert main(["export", "figure", kind, "--experiment", str(crosscoded), "--out", str(out),
                 "--db", str(db), "--dpi", "50"]) == 0
    assert out.stat().st_size > 1000


def test_report_section_states_the_three_claims(db, crosscoded):
    from moelab.engine.client import DirectClient
    from moelab.figures.report_crosscoder import section
    client = DirectClient(db)
    try:
        text = "\n".join(section(client))
    finally:
        client.close()
    mine = text.split(f"### Experiment {crosscoded}\n")[1].split("### Experiment")[0]
    assert mine.count("**Paper:**") == 3 and mine.count("**Verdict:**") == 3
    assert "4 crosscoders on model seeds [0, 1]" in mine and "variance explained" in mine
