"""The seed-noise floor beside a comparison (issue 20): from the experiments' own seeds or a
control, checked against numbers worked out by hand on a small synthetic lab."""

from __future__ import annotations

import json

import pytest

from moelab.cli import main
from moelab.db import open_store
from moelab.engine import noise_floor as nf
from moelab.engine.client import DirectClient
from moelab.figures.noise import floors

MONO, SUP, IGN = (1.0, True), (0.8, False), (0.1, False)  # (norm, monosemantic) of a last feature
X, Y = (2, 1, 2), (3, 1, 2)  # setups (n_features, d_hidden, n_experts)
CELLS = [(0.5, 1.0), (0.9, 1.0), (0.9, 2.0)]

# setup -> per cell, per seed (seed 0 chosen), per expert: the last feature
A = {X: [[[MONO, IGN], [IGN, MONO], [SUP, IGN]],  # 1 of 2 other seeds match (experts swapped)
         [[SUP, SUP], [MONO, SUP], [IGN, IGN]],  # 0 of 2
         [[SUP, SUP]] * 3],  # 2 of 2
     Y: [[[MONO, IGN]] * 5, [[SUP, IGN]] * 5, [[SUP, SUP]] * 5]}  # 12 of 12
B = {X: [[[SUP, IGN]], [[SUP, SUP]], [[SUP, SUP]]],  # one seed: A's chosen in cells 1 and 2
     Y: [[[MONO, IGN]], [[IGN, IGN]], [[MONO, MONO]]]}  # A's chosen in cell 0 only
CONTROL = {X: [[[IGN, MONO]], [[SUP, SUP]], [[SUP, SUP]]],  # A's chosen everywhere: 3 of 3
           Y: [[[SUP, SUP]], [[IGN, IGN]], [[IGN, IGN]]]}  # nowhere: 0 of 3
CONFIG_A = {"name": "A", "model": {"n_experts": 2}, "train": {"seed": 0, "seeds": 3}}


def _write(store, name: str, cells: dict, config: dict) -> int:
    runs: dict[str, list] = {c: [] for c in (
        "local_index", "kind", "n_features", "d_hidden", "n_experts", "k", "gating",
        "router_init", "sparsity", "last_importance", "seed", "chosen", "point", "eval_loss")}
    feats: dict[str, list] = {c: [] for c in ("local_index", "expert", "feature", "norm",
                                              "monosemantic")}
    point = 0
    for (n, m, E), per_cell in cells.items():
        for (s, imp), seeds in zip(CELLS, per_cell, strict=True):
            for seed, experts in enumerate(seeds):
                i = len(runs["local_index"])
                for c, v in (("local_index", i), ("kind", "moe"), ("n_features", n),
                             ("d_hidden", m), ("n_experts", E), ("k", 1), ("gating", "renorm"),
                             ("router_init", "xavier"), ("sparsity", s),
                             ("last_importance", imp), ("seed", seed), ("chosen", seed == 0),
                             ("point", point), ("eval_loss", 0.1)):
                    runs[c].append(v)
                for e, (norm, mono) in enumerate(experts):
                    for f in range(n):  # only the last feature counts
                        last = f == n - 1
                        for c, v in (("local_index", i), ("expert", e), ("feature", f),
                                     ("norm", norm if last else 0.0),
                                     ("monosemantic", mono if last else True)):
                            feats[c].append(v)
            point += 1
    eid = store.create_experiment(name, None, json.dumps(config), status="running")
    store.write_runs(eid, [{"runs": runs, "features": feats}])
    store.set_experiment_status(eid, "done")
    return eid


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lab.duckdb"
    with open_store(path) as store:
        assert _write(store, "A", A, CONFIG_A) == 1
        assert _write(store, "B", B, {**CONFIG_A, "name": "B"}) == 2
    return path


def add_control(path, config: dict, name: str = "A (control of 1)") -> int:
    with open_store(path) as store:
        return _write(store, name, CONTROL, config)


def test_wilson_against_a_hand_computation():
    # 3 of 6: centre (.5 + z²/12) / (1 + z²/6) = .5; half-width 1.96·√(.25/6 + z²/144)/1.640
    assert nf.wilson(3, 6) == pytest.approx((0.1876, 0.8124), abs=1e-4)
    assert nf.wilson(12, 12) == pytest.approx((12 / (12 + 1.959964 ** 2), 1.0))  # p = 1
    assert nf.wilson(0, 3)[0] == 0.0


def test_floor_from_the_experiments_own_seeds(db, capsys):
    with DirectClient(db) as client:
        fl = floors(client, 1, 2)
    # B has one seed per point: only A's non-chosen seeds count
    assert {s: (f.matching, f.n) for s, f in fl.by_setup.items()} == {X: (3, 6), Y: (12, 12)}
    assert main(["compare", "1", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    x = next(ln for ln in out.splitlines() if ln.startswith("212"))
    y = next(ln for ln in out.splitlines() if ln.startswith("312"))
    # X: A and B agree on 2 of 3 cells, inside the floor's [18.8 %, 81.2 %]: within
    assert "66.7%" in x and "50% [19%–81%] of 6" in x and x.endswith("within seed noise")
    # Y: 1 of 3 cells, below 12 / (12 + z²) = 75.7 %: beyond
    assert "33.3%" in y and "100% [76%–100%] of 12" in y
    assert y.endswith("differs beyond seed noise")
    assert "seeds of experiment 1;" in out and "Wilson 95 %" in out


def test_a_control_gives_the_floor_and_compare_says_so(db, capsys):
    add_control(db, {**CONFIG_A, "name": "B", "model": {"n_experts": 3}}, "B (control of 1)")
    ctrl = add_control(db, {**CONFIG_A, "name": "A (control of 1)",
                            "train": {"seed": 3, "seeds": 3}})
    assert main(["compare", "1", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"against its control {ctrl}" in out  # not 3: its config is not A's
    x = next(ln for ln in out.splitlines() if ln.startswith("212"))
    y = next(ln for ln in out.splitlines() if ln.startswith("312"))
    # X: 3 of 3 cells, lower bound 3 / (3 + z²) = 43.9 %, A vs B 66.7 %: within
    assert "100% [44%–100%] of 3" in x and x.endswith("within seed noise")
    # Y: 0 of 3 cells match the control: the floor is [0 %, 56 %], and 33.3 % is inside
    assert "0% [0%–56%] of 3" in y and y.endswith("within seed noise")


def test_one_seed_per_point_says_no_floor_and_how_to_get_one(db, capsys):
    assert main(["compare", "2", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no noise floor: experiment 2 has one seed per point" in out
    assert "--set train.seeds=N" in out and "seed noise [95 %]" not in out


def test_the_phase_diff_figure_shows_the_floor(db, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from moelab.figures import KINDS  # noqa: F401 - registers the kinds
    from moelab.figures.data import Source
    from moelab.figures.phase_diff import draw
    with DirectClient(db) as client:
        fig = draw(Source(client, 1, {}, against=2))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert any("noise 50% [19%–81%]: within seed noise" in t for t in titles), titles
    assert any("differs beyond seed noise" in t for t in titles), titles
