"""Work units (issue 10): any split trains the same weights, a unit is stored whole and only
once, the best seed is chosen when a point's seeds are all in, and the last unit ends the
experiment in the same transaction."""

from __future__ import annotations

import numpy as np
import pytest
from runner_support import run_in_memory

from moelab.db import open_store
from moelab.engine.config import from_dict
from moelab.engine.plan import Unit, plan
from moelab.engine.unit import UnitResult, run_unit


def _cfg(seeds: int = 3, steps: int = 60):
    return from_dict({"model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3},
                      "data": {"sparsity": 0.7},
                      "train": {"steps": steps, "seeds": seeds, "batch_size": 64,
                                "lb_coef": 0.01, "eval_samples": 500, "log_every": 20},
                      "sweep": {"data.sparsity": [0.5, 0.9]}})


def _weights_by_run(units_tables) -> dict:
    out = {}
    for tables in units_tables:
        runs, w = tables["runs"], tables["weights"]
        for local, (point, seed) in enumerate(zip(runs["point"], runs["seed"], strict=True)):
            rows = np.asarray(w["local_index"]) == local
            out[(int(point), int(seed))] = (np.asarray(w["W"])[rows], np.asarray(w["b"])[rows],
                                            np.asarray(w["router"])[rows])
    return out


def test_any_split_into_units_trains_bitwise_the_same_weights():
    cfg = _cfg()
    whole = plan(cfg, 1, unit_work=1e15)
    split = plan(cfg, 1, unit_work=1.0)  # one run a unit
    assert len(whole) == 1 and len(split) == 6
    a = _weights_by_run([run_unit(u).tables for u in whole])
    b = _weights_by_run([run_unit(u).tables for u in split])
    assert a.keys() == b.keys() and len(a) == 6
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            assert np.array_equal(x, y), key


def test_a_unit_crosses_processes_as_json_and_arrow_not_pickle():
    unit = plan(_cfg(seeds=1), 7, unit_work=1.0)[1]
    assert Unit.from_json(unit.to_json()) == unit
    result = run_unit(unit)
    data = result.to_bytes()
    assert b"pickle" not in data and data[8:9] == b"{"  # a JSON header, then Arrow streams
    back = UnitResult.from_bytes(data)
    assert back.index == 1 and back.experiment_id == 7
    assert np.array_equal(back.tables["weights"]["W"], result.tables["weights"]["W"])
    assert back.tables["runs"]["config"] == result.tables["runs"]["config"]


def test_units_store_once_choose_when_complete_and_finish_in_one_transaction(tmp_path):
    cfg = _cfg(seeds=3)
    units = plan(cfg, 1, unit_work=1.0)
    with open_store(tmp_path / "lab.duckdb") as store:
        eid = store.create_experiment("u", None, cfg.to_json(), status="running")
        store.set_plan(eid, 6, len(units), 1.0)
        results = [run_unit(u) for u in units]
        # point 0's three seeds are units 0..2: after two of them nothing is chosen yet
        for u, r in zip(units[:2], results[:2], strict=True):
            assert store.write_unit(eid, u.index, r.tables, r.meta(), dict(u.point_sizes))
        assert store.query("SELECT count(*) FILTER (WHERE chosen), count(*) FROM runs")[1] \
            == [(0, 2)]
        # storing a unit again writes nothing (a retry after a crash between store and ack)
        assert store.write_unit(eid, 0, results[0].tables, {}, {0: 3}) is None
        u = units[2]
        store.write_unit(eid, u.index, results[2].tables, results[2].meta(),
                         dict(u.point_sizes))
        _, rows = store.query("SELECT seed, chosen, eval_loss FROM runs WHERE point = 0 "
                              "ORDER BY seed")
        best = min(rows, key=lambda r: r[2])
        assert [r[1] for r in rows] == [r is best for r in rows]
        assert store.experiment(eid)["status"] == "running"
        for u, r in zip(units[3:], results[3:], strict=True):
            store.write_unit(eid, u.index, r.tables, r.meta(), dict(u.point_sizes))
        row = store.experiment(eid)
        assert row["status"] == "done" and row["runs_stored"] == 6 and row["units_stored"] == 6
        assert row["message"].startswith("6 runs (2 chosen)")
        assert store.stored_units(eid) == set(range(6))
        _, dup = store.query("SELECT count(*), count(DISTINCT (point, seed)) FROM runs")
        assert dup == [(6, 6)]


def test_in_process_experiment_matches_the_unit_path():
    cfg = _cfg(seeds=2)
    r = run_in_memory(cfg, "cpu")
    assert r.chosen.sum() == 2 and len(r.runs) == 4
    a = _weights_by_run(r.chunks)
    b = _weights_by_run([run_unit(u).tables for u in plan(cfg, 1, unit_work=1.0)])
    for key in a:
        assert np.array_equal(a[key][0], b[key][0])


@pytest.mark.parametrize("bad", ["nope"])
def test_unknown_family_is_one_clear_error(bad):
    from moelab.engine.families import family
    with pytest.raises(ValueError, match="unknown model family 'nope'; known: crosscoder, lm, toy"):
        family(bad)
