"""The lm family (issue 24): small dense and MoE transformers on text found on the machine,
MoE Lens on the MoE. Tiny models, a few seconds each."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from moelab.cli import main  # noqa: E402
from moelab.db import open_store  # noqa: E402
from moelab.engine.config import ConfigError  # noqa: E402
from moelab.engine.families import family  # noqa: E402
from moelab.engine.families.lm import from_dict, prepare  # noqa: E402
from moelab.engine.families.lm.lens import moe_lens  # noqa: E402
from moelab.engine.families.lm.model import LM  # noqa: E402
from moelab.engine.families.lm.tokenizer import train_tokenizer  # noqa: E402
from moelab.engine.families.lm.trainer import train_lm, windows  # noqa: E402
from moelab.engine.unit import run_unit  # noqa: E402

TINY = {"family": "lm",
        "model": {"n_layers": 1, "d_model": 32, "n_heads": 2, "context": 32, "d_mlp": 64,
                  "vocab_size": 300},
        "data": {"chars": 20_000},
        "train": {"steps": 60, "batch_size": 8, "lr": 1e-2, "eval_tokens": 512,
                  "snapshots": 2, "log_every": 20},
        "sweep": {"variants": [{"model": {"n_experts": 1, "k": 1}},
                               {"model": {"n_experts": 4, "k": 2}}]}}


def _cfg(**model):
    raw = json.loads(json.dumps(TINY))
    raw["model"].update(model)
    return from_dict(raw)


@pytest.fixture(scope="module")
def prep():
    return prepare(_cfg())


def _train(cfg, prep, model, seed=0):
    held = {d: windows(ids, model.context, cfg.train.eval_tokens)
            for d, ids in prep.heldout.items()}
    return train_lm(model, cfg.train, seed, prep.train, held, "cpu"), held


def test_held_out_loss_falls_on_every_domain(prep):
    cfg = _cfg()
    res, _ = _train(cfg, prep, cfg.models()[0])
    first = {e["domain"]: e["loss"] for e in res.evals if e["step"] == 0}
    last = {e["domain"]: e["loss"] for e in res.evals if e["step"] == cfg.train.steps}
    assert set(first) == {"code", "docs", "data"} == set(last)
    for d in first:  # from about log(300) = 5.7 nats: a clear fall, not noise
        assert last[d] < first[d] - 0.5, (d, first[d], last[d])


def test_moe_routing_per_domain_differs_from_uniform(prep):
    cfg = _cfg()
    moe = cfg.models()[1]
    res, held = _train(cfg, prep, moe)
    lens = moe_lens(res.model, held, "cpu")
    x = lens["lm_lens_experts"]
    for d in ("code", "docs", "data"):
        shares = np.array([s for s, dom in zip(x["weight_share"], x["domain"], strict=True)
                           if dom == d])
        assert shares.shape == (4,) and abs(shares.sum() - 1) < 1e-9
        assert np.abs(shares - 0.25).max() > 0.02, (d, shares)
    assert all(e < 1 for e in lens["lm_lens"]["entropy_norm"])
    assert all(0 < c <= 1 + 1e-6 for c in lens["lm_lens"]["cos_hidden"])


@pytest.mark.parametrize("gating", ["renorm", "switch"])
def test_top1_forward_equals_the_full_forward_when_k_is_1(gating):
    ids = torch.randint(0, 300, (3, 32), generator=torch.Generator().manual_seed(1))
    every = frozenset({0, 1})
    one = LM(dataclasses.replace(_cfg().model, n_layers=2, n_experts=4, k=1, gating=gating),
             seed=3)
    full, _, _ = one(ids)
    top1, _, _ = one(ids, top1=every)
    assert torch.equal(full, top1)
    two = LM(dataclasses.replace(_cfg().model, n_layers=2, n_experts=4, k=2, gating=gating),
             seed=3)
    assert not torch.equal(two(ids)[0], two(ids, top1=every)[0])  # the check can fail


def test_same_config_and_seed_give_bitwise_the_same_weights(prep):
    cfg = _cfg()
    moe = cfg.models()[1]
    a, _ = _train(cfg, prep, moe, seed=5)
    b, _ = _train(cfg, prep, moe, seed=5)
    c, _ = _train(cfg, prep, moe, seed=6)
    wa, wb, wc = (r.checkpoints[-1][1] for r in (a, b, c))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not all(np.array_equal(wa[k], wc[k]) for k in wa)


def test_tokenizer_training_is_deterministic():
    texts = ["def f(x):\n    return x + 1\n" * 50, "The quick brown fox. " * 80]
    assert train_tokenizer(texts, 300) == train_tokenizer(texts, 300)


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as e:
        _cfg(vocab_size=100, d_model=30, n_heads=4)
    text = str(e.value)
    assert "model.vocab_size = 100 is out of range" in text
    with pytest.raises(ConfigError) as e:
        _cfg(d_mlp=63)  # the MoE variant's k = 2 must divide it
    assert "sweep.variants[1].model.d_mlp = 63 must be a multiple of k = 2" in str(e.value)


def test_units_train_through_the_store_and_a_resume_keeps_the_tokenizer(tmp_path):
    cfg = _cfg()
    fam = family("lm")
    db = tmp_path / "lab.duckdb"
    with open_store(db) as store:
        units = fam.plan(cfg, 0, store=store)
        tok = [json.loads(u.inputs)["tokenizer"] for u in units]
        assert [u.n_runs for u in units] == [1, 1] and tok[0] == tok[1]
        eid = store.create_experiment("lm", None, cfg.to_json(), status="running")
        store.set_plan(eid, 2, 2, 1.0)
        u = dataclasses.replace(units[1], experiment_id=eid)
        r = run_unit(u)
        store.write_unit(eid, u.index, r.tables, r.meta(), {})
        stored = json.loads(units[0].inputs)["tokenizer"]
        again = fam.plan(cfg, eid, store=store)
        assert json.loads(again[0].inputs)["tokenizer"] == stored
        names, rows = store.query("SELECT kind, n_experts, d_hidden, lens_top1_cosine "
                                  "FROM runs WHERE experiment_id = ?", [eid])
        assert rows == [("lm-moe", 4, 32, pytest.approx(rows[0][3]))] and rows[0][3] > 0
        from moelab.db.reads import read
        lens = read(store, "lm_lens", experiment_id=eid)
        assert sorted(set(lens["domain"])) == ["code", "data", "docs"]
        ev = read(store, "lm_eval", experiment_id=eid)
        assert all(p is not None for p in ev["perplexity_top1"])
        ck = read(store, "lm_checkpoint", run_id=1)
        assert ck["step"] == 60 and ck["tensors"]["tok"]["shape"] == [300, 32]
        model = LM(cfg.models()[1], seed=0)
        model.load_state_dict({k: torch.tensor(v["data"]).reshape(v["shape"])
                               for k, v in ck["tensors"].items()})


@pytest.mark.parametrize("sets, says", [
    (["model.vocab_size=100"], "model.vocab_size = 100 is out of range"),
    (["model.vocab_size=70000"], "model.vocab_size = 70000 is out of range"),
    (["data.domains=['mine']", "data.files={mine = '/no/such/corpus'}"], "is missing"),
    (["data.domains=['mine']", "data.files={mine = 'EMPTY'}"], "is empty"),
    (["data.domains=['mine']", "data.files={mine = 'SMALL'}", "model.context=2048"],
     "fewer than model.context + 1 = 2049"),
    (["data.domains=['poems']"], "unknown domain 'poems'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, sets, says):
    (tmp_path / "empty").mkdir()
    (tmp_path / "small.txt").write_text("A short text of plain words. " * 60)
    args = ["run", "lm-pair", "--quick"]
    for s in sets:
        s = s.replace("EMPTY", str(tmp_path / "empty")).replace("SMALL",
                                                                 str(tmp_path / "small.txt"))
        args += ["--set", s]
    db = tmp_path / "lab.duckdb"
    assert main([*args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moelab: ") and err.count("\n") == 1 and says in err, err
    assert not db.exists()


def _tiny_pair(steps: int = 20) -> dict:
    raw = json.loads(json.dumps(TINY))
    raw["train"]["steps"] = steps
    return raw


def test_the_service_trains_an_lm_pair_through_its_family(tmp_path):
    from moelab.engine.executors.inprocess import InProcessExecutor
    from moelab.engine.service.configs import submitted_config
    from moelab.engine.service.core import LabService
    from moelab.engine.service.paths import ServicePaths
    db = tmp_path / "lab.duckdb"
    with open_store(db) as store:
        bad = {**_tiny_pair(), "data": {"domains": ["mine"], "files": {"mine": "/no/such"}}}
        with pytest.raises(ConfigError, match="the 'mine' corpus is missing"):
            submitted_config(bad, store=store)
        svc = LabService(store, ServicePaths.of(db), executor=InProcessExecutor())
        eid = svc.submit(config=_tiny_pair(), name="lm pair")
        job = svc.claim_next()
        svc.scheduler.run_job(job)
        row = store.experiment(eid)
        assert row["status"] == "done", row["message"]
        kinds = store.query("SELECT kind FROM runs WHERE experiment_id = ? ORDER BY run_id",
                            [eid])[1]
        assert kinds == [("lm-dense",), ("lm-moe",)]


def test_a_pair_trains_on_dask_to_the_same_bits_as_here(tmp_path):
    pytest.importorskip("distributed")
    from moelab.engine.executors.base import UnitDone
    from moelab.engine.executors.dask import DaskExecutor
    cfg = from_dict(_tiny_pair(10))
    units = family("lm").plan(cfg, 1)
    here = run_unit(units[1]).tables["lm_checkpoints"]["data"]
    done = []
    ex = DaskExecutor("local:1")
    try:
        assert ex.run(units, lambda ev: done.append(ev) if isinstance(ev, UnitDone) else None,
                      lambda: False) == "done"
    finally:
        ex.close()
    there = next(ev.result for ev in done if ev.unit.index == 1).tables["lm_checkpoints"]
    assert len(there["data"]) == len(here) > 10  # every tensor at every snapshot
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(there["data"], here,
                                                                  strict=True))


def test_kill_9_mid_pair_then_resume_gives_bitwise_the_same_weights(lab):
    import os
    import signal

    from service_helpers import experiment, finished, wait_for

    from moelab.engine.service.paths import pid_alive
    raw = _tiny_pair(400)  # the MoE unit trains a few seconds: long enough to be killed
    client = lab()
    eid = client.submit(raw)
    row = wait_for(lambda: (lambda r: r if r["status"] == "running" and r["runs_stored"]
                            else None)(experiment(client, eid)), every=0.05, timeout=120)
    pid = client.status()["service"]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert row["runs_stored"] == 1  # killed with the MoE unit in flight
    wait_for(lambda: not pid_alive(pid), timeout=10)
    client = lab()  # a new service resumes the unit not stored
    assert wait_for(lambda: finished(client, eid), timeout=120)["status"] == "done"
    _, rows = client.sql(f"SELECT c.tensor, c.data FROM lm_checkpoints c JOIN runs r "
                         f"USING (run_id) WHERE r.experiment_id = {eid} AND r.kind = 'lm-moe' "
                         f"AND c.step = 400 ORDER BY c.tensor")
    ref = run_unit(family("lm").plan(from_dict(raw), 1)[1]).tables["lm_checkpoints"]
    want = {t: d for t, s, d in zip(ref["tensor"], ref["step"], ref["data"], strict=True)
            if s == 400}
    assert [t for t, _ in rows] == sorted(want)
    assert all(np.array_equal(np.asarray(d, np.float32), want[t]) for t, d in rows)


def test_presets_lists_lm_pair_with_its_time(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "lm-pair" in out and "~65 min" in out and "~1 min" in out
