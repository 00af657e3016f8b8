"""Every figure kind renders from a seeded database, and the picture says what the data says:
panel counts, the paper's colours where the data puts them, axis labels; bad input is one
line with exit status 2.

The database is written by hand (known norms, routers, usages), so each check has one
right answer and no training noise."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest
from matplotlib.image import imread

from moelab.cli import main
from moelab.db import open_store
from moelab.engine.client import DirectClient
from moelab.figures import export
from moelab.figures.style import MONOSEMANTIC, PALETTE, SUPERPOSITION

# ------------------------------------------------------------------ the seeded database

def _runs(setups: list[dict]) -> dict:
    """A runs table; each setup dict holds its columns (defaults below)."""
    base = {"status": "done", "kind": "moe", "gating": "renorm", "router_init": "xavier",
            "sparsity": 0.9, "last_importance": 1.0, "seed": 0, "chosen": True, "point": 0,
            "steps": 100, "eval_loss": 0.1, "final_loss": 0.1, "fpd": 1.0, "capacity": 1.0}
    rows = [{**base, **s} for s in setups]
    cols = {c: [r[c] for r in rows] for c in rows[0]}
    cols["local_index"] = list(range(len(rows)))
    return cols


def _features(entries: list[tuple]) -> dict:
    """(local_index, expert, feature, norm, superposition_all, monosemantic, occupied)"""
    names = ("local_index", "expert", "feature", "norm", "superposition_all", "monosemantic",
             "occupied")
    cols = {n: [e[i] for e in entries] for i, n in enumerate(names)}
    cols["superposition"] = [max(s - n * n, 0.0) for n, s in
                             zip(cols["norm"], cols["superposition_all"], strict=True)]
    cols["importance"] = [1.0] * len(entries)
    return cols


def _metrics(n_runs: int, steps=(0, 50, 100)) -> dict:
    rows = [(i, s, name, 1.0 / (1 + s) + 0.01 * i) for i in range(n_runs) for s in steps
            for name in ("loss", "router_grad_norm")]
    return {k: [r[j] for r in rows] for j, k in enumerate(("local_index", "step", "name",
                                                              "value"))}


def weights_experiment() -> dict:
    """fig1-2-like: dense (n=4, m=2) and an MoE with E=2; known monosemantic features."""
    runs = _runs([dict(kind="dense", n_features=4, d_hidden=2, n_experts=1, k=1),
                  dict(n_features=4, d_hidden=2, n_experts=2, k=1, point=1)])
    W0 = np.array([[1, 0, -1, 0], [0, 1, 0, -1]], dtype=float)  # antipodal pairs
    W1 = np.array([[1, 0, 0, 0], [0, 0.5, 0, 0]], dtype=float)
    weights = {"local_index": [0, 1, 1], "expert": [0, 0, 1],
               "W": [W0.ravel(), W1.ravel(), W1.ravel()[::-1].copy()],
               "b": [np.zeros(4)] * 3, "router": [np.zeros(4)] * 3}
    feats = [(0, 0, i, 1.0, 2.0, False, True) for i in range(4)]
    feats += [(1, e, i, 1.0 if i == 0 else 0.1, 1.0, i == 0, i == e) for e in (0, 1)
              for i in range(4)]
    return {"runs": runs, "features": _features(feats), "metrics": _metrics(2),
            "weights": weights}


PHASE_S = [0.1, 0.5, 0.9]
PHASE_I = [0.5, 1.0, 2.0]


def phase_experiment() -> dict:
    """A sparsity × last-importance sweep of (n=2, m=1) dense and E=2. Dense cells: norm
    rises with importance (0, 1, 1), superposition with sparsity; so the corner cells are
    white (norm 0), blue (norm max, superposition 0) and red (both max)."""
    setups, feats = [], []
    for E in (1, 2):
        for a, s in enumerate(PHASE_S):
            for b, imp in enumerate(PHASE_I):
                i = len(setups)
                setups.append(dict(kind="dense" if E == 1 else "moe", n_features=2,
                                   d_hidden=1, n_experts=E, k=1, sparsity=s,
                                   last_importance=imp, point=i))
                for e in range(E):
                    norm = 0.0 if b == 0 else 1.0
                    feats.append((i, e, 1, norm, [0.0, 0.5, 1.0][a] * norm, a == 0, True))
    return {"runs": _runs(setups), "features": _features(feats)}


SWEEP_S = [0.0, 0.5, 0.9, 0.99]


def sparsity_experiment() -> dict:
    """fig3-like: dense and MoE over 4 sparsities × 3 seeds (all chosen); dense fpd above."""
    setups = []
    for kind, E, m in (("dense", 1, 4), ("moe", 4, 1)):
        for a, s in enumerate(SWEEP_S):
            for seed in range(3):
                fpd = (1 + 2 * a if kind == "dense" else 1 + a * 0.2) + 0.05 * seed
                setups.append(dict(kind=kind, n_features=16, d_hidden=m, n_experts=E, k=1,
                                   sparsity=s, seed=seed, point=len(setups) // 3, fpd=fpd,
                                   eval_loss=1.0 / (1 + a) * (1.5 if E > 1 else 1.0)))
    return {"runs": _runs(setups), "metrics": _metrics(len(setups))}


def routing_experiment() -> dict:
    """fig5-like: n=2, E=3; a diagonal router (expert 0 below x0 = x1, 1 above, 2 never) and a
    zero router (everything ties, so expert 0)."""
    runs = _runs([dict(n_features=2, d_hidden=1, n_experts=3, k=1, router_init="diagonal"),
                  dict(n_features=2, d_hidden=1, n_experts=3, k=1, router_init="zeros",
                       point=1)])
    routers = [[1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0]]
    weights = {"local_index": [0, 0, 0, 1, 1, 1], "expert": [0, 1, 2, 0, 1, 2],
               "W": [np.ones(2)] * 6, "b": [np.zeros(2)] * 6, "router": routers}
    return {"runs": runs, "weights": weights, "metrics": _metrics(2)}


def usage_experiment() -> dict:
    """table1-like: two routers inits; experts with 0, 1 and 2 monosemantic features."""
    runs = _runs([dict(n_features=10, d_hidden=2, n_experts=2, k=1, router_init=init,
                       point=i) for i, init in enumerate(("xavier", "random_khot"))])
    experts = {"local_index": [0, 0, 1, 1], "expert": [0, 1, 0, 1],
               "usage": [0.5, 0.5, 0.4, 0.6], "n_monosemantic": [0, 1, 1, 2],
               "usage_when_mono_active": [np.nan, 0.7, 0.8, 0.9],
               "usage_when_only_mono_active": [np.nan, 0.9, 1.0, 1.0],
               "usage_dense": [0.3, 0.7, 0.2, 0.8], "usage_dense_mono_active": [np.nan, 0.75,
                                                                                0.5, 0.95],
               "usage_dense_only_mono": [np.nan, 1.0, 0.0, 1.0]}
    return {"runs": runs, "experts": experts}


EXPERIMENTS = {"weights": weights_experiment, "phase": phase_experiment,
               "sweep": sparsity_experiment, "routing": routing_experiment,
               "usage": usage_experiment}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("figures") / "lab.duckdb"
    ids = {}
    with open_store(path) as store:
        for name, build in EXPERIMENTS.items():
            ids[name] = store.create_experiment(name, None, "{}", status="running")
            store.write_runs(ids[name], [build()])
            store.set_experiment_status(ids[name], "done")
    return path, ids


@pytest.fixture(scope="module")
def client(lab):
    c = DirectClient(lab[0])
    yield c
    c.close()


def draw(client, ids, kind, experiment, tmp_path, suffix=".png", **kw):
    out = tmp_path / f"{kind}{suffix}"
    export(client, kind, ids[experiment], out, dpi=60, **kw)
    assert out.stat().st_size > 0
    return out


def pixels(png) -> np.ndarray:
    return (imread(str(png))[..., :3] * 255).round().astype(int)


def has_colour(img: np.ndarray, colour: str | tuple, tol: int = 12) -> bool:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) if isinstance(colour, str) \
        else np.array(colour)
    return bool((np.abs(img - rgb).max(-1) <= tol).any())


def svg_text(path) -> str:
    return path.read_text()


# ------------------------------------------------------------------ each kind

def test_phase_diagram_panels_and_colours(client, lab, tmp_path):
    _, ids = lab
    img = pixels(draw(client, ids, "phase-diagram", "phase", tmp_path))
    # corners of the dense panel: white (norm 0), blue (norm max, no superposition), red
    assert has_colour(img, (0, 0, 255)) and has_colour(img, (255, 0, 0))
    svg = svg_text(draw(client, ids, "phase-diagram", "phase", tmp_path, ".svg"))
    for label in ("4.A expert 0 of 1", "4.A expert 0 of 2", "4.A expert 1 of 2",
                  "feature sparsity S", "last feature importance", "superposition_all"):
        assert label in svg
    assert "4.A expert 1 of 1" not in svg
    svg = svg_text(draw(client, ids, "phase-diagram", "phase", tmp_path, ".svg",
                        metric="superposition", expert=1))
    assert "4.A expert 1 of 2" in svg and "4.A expert 0 of 1" not in svg and "j ≠ i" in svg


def test_phase_diagram_colour_follows_spec():
    from moelab.figures.style import phase_rgb
    rgb = phase_rgb(np.array([0.0, 1.0, 0.3]), np.array([1.0, 1.0, 0.0]))
    assert rgb.tolist() == [[0, 0, 1], [1, 0, 0], [1, 1, 1]]


def test_gram_one_panel_per_expert(client, lab, tmp_path):
    _, ids = lab
    svg = svg_text(draw(client, ids, "gram", "weights", tmp_path, ".svg"))
    assert svg.count(">expert 0<") + svg.count("expert 0</text>") >= 1
    assert "dense m=2" in svg and "MoE E=2 k=1 m=2" in svg and "expert 1" in svg
    assert "feature i" in svg and "feature j" in svg and "Gram entry" in svg
    img = pixels(draw(client, ids, "gram", "weights", tmp_path))
    # antipodal pairs: Gram entries -1 (blue end) and +1 (red end) of RdBu_r
    assert has_colour(img, (103, 0, 31), tol=25) and has_colour(img, (5, 48, 97), tol=25)


def test_feature_norms_purple_and_green(client, lab, tmp_path):
    _, ids = lab
    img = pixels(draw(client, ids, "feature-norms", "weights", tmp_path))
    assert has_colour(img, MONOSEMANTIC) and has_colour(img, SUPERPOSITION)
    svg = svg_text(draw(client, ids, "feature-norms", "weights", tmp_path, ".svg"))
    assert "feature i" in svg and "monosemantic" in svg and "occupied" in svg
    # the dense model has no monosemantic feature: its panel alone has no purple
    img = pixels(draw(client, ids, "feature-norms", "weights", tmp_path, run_id=1))
    assert not has_colour(img, MONOSEMANTIC) and has_colour(img, SUPERPOSITION)


def test_fpd_and_loss_vs_sparsity_show_seeds_and_bands(client, lab, tmp_path):
    _, ids = lab
    for kind, ylabel in (("fpd-vs-sparsity", "features per dimension"),
                         ("loss-vs-sparsity", "loss on a fresh evaluation batch")):
        svg = svg_text(draw(client, ids, kind, "sweep", tmp_path, ".svg"))
        assert "1 / (1 − S)" in svg and ylabel in svg
        assert "n = 3 seeds per point" in svg and "95% CI" in svg
        assert "dense m=4" in svg and "MoE E=4 k=1 m=1" in svg
        img = pixels(draw(client, ids, kind, "sweep", tmp_path))
        assert has_colour(img, "#222222", tol=20) and has_colour(img, PALETTE[0], tol=20)


def test_fpd_curve_values_are_seed_means(client, lab):
    from moelab.figures.render import source
    from moelab.figures.sparsity import curves
    dense = curves(source(client, lab[1]["sweep"]), "fpd")[0]
    assert dense["dense"] and dense["n"] == [3, 3, 3, 3]
    assert dense["mean"] == pytest.approx([1.05, 3.05, 5.05, 7.05])
    assert dense["half"][0] == pytest.approx(4.303 * 0.05 / np.sqrt(3), rel=1e-3)


def test_routing_regions(client, lab, tmp_path):
    _, ids = lab
    img = pixels(draw(client, ids, "routing-regions", "routing", tmp_path))
    assert has_colour(img, PALETTE[0]) and has_colour(img, PALETTE[1])
    svg = svg_text(draw(client, ids, "routing-regions", "routing", tmp_path, ".svg"))
    assert "diagonal router" in svg and "zeros router" in svg and "feature 0" in svg
    from moelab.figures.render import source
    from moelab.figures.routing import routed_runs
    diag, zeros = routed_runs(source(client, ids["routing"]))
    assert diag["share"][2] == 0 and abs(diag["share"][0] - 0.5) < 0.01
    assert zeros["share"] == [1.0, 0.0, 0.0]


def test_training_curves(client, lab, tmp_path):
    _, ids = lab
    svg = svg_text(draw(client, ids, "training-curves", "sweep", tmp_path, ".svg"))
    assert "training step" in svg and "training loss" in svg and "n = 12" in svg
    svg = svg_text(draw(client, ids, "training-curves", "routing", tmp_path, ".svg",
                        metric="router_grad_norm"))
    assert "router gradient norm" in svg


def test_usage_table_csv_and_latex(client, lab, tmp_path):
    _, ids = lab
    rows = list(csv.reader(io.StringIO(
        draw(client, ids, "usage-table", "usage", tmp_path, ".csv").read_text())))
    assert rows[0][0] == "router init" and len(rows) == 1 + 4
    by = {(r[0], r[1]): r for r in rows[1:]}
    assert by[("random_khot", "2")][4:7] == ["60.0", "90.0", "100.0"]  # training data
    assert by[("random_khot", "2")][7:] == ["80.0", "95.0", "100.0"]  # dense, the authors'
    assert by[("xavier", "0")][5:7] == ["", ""]  # undefined without monosemantic features
    assert by[("xavier", "0")][7:] == ["30.0", "", ""]
    assert "[training data]" in rows[0][4] and "authors' definition" in rows[0][7]
    tex = draw(client, ids, "usage-table", "usage", tmp_path, ".tex").read_text()
    assert "\\begin{tabular}" in tex and "random\\_khot" in tex and "90.00" in tex


# ------------------------------------------------------------------ bad input

def cli(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, fragment", [
    (["phase-diagram", "--experiment", "weights"], "not a sparsity × last-importance sweep"),
    (["routing-regions", "--experiment", "weights"], "n_features = 2"),
    (["fpd-vs-sparsity", "--experiment", "weights"], "does not sweep sparsity"),
    (["usage-table", "--experiment", "sweep"], "no MoE runs"),
    (["phase-diagram", "--experiment", "phase", "--metric", "norm"], "--metric"),
    (["gram", "--experiment", "99"], "no experiment with id 99"),
])
def test_experiment_lacking_what_the_kind_needs(lab, tmp_path, capsys, args, fragment):
    path, ids = lab
    args = [ids.get(a, a) if isinstance(a, str) else a for a in args]
    out = tmp_path / ("x.csv" if args[0] == "usage-table" else "x.png")
    code, err = cli(["export", "figure", *map(str, args), "--out", str(out),
                     "--db", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()


def test_unknown_kind_and_bad_paths(lab, tmp_path, capsys):
    path, ids = lab
    with pytest.raises(SystemExit) as e:
        main(["export", "figure", "pie-chart", "--experiment", "1", "--out", "x.png",
              "--db", str(path)])
    assert e.value.code == 2 and "invalid choice: 'pie-chart'" in capsys.readouterr().err
    bad = [(tmp_path / "missing" / "x.png", "does not exist"),
           (tmp_path / "x.jpg", "writes .png / .svg / .pdf"),
           (tmp_path, "is a directory")]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        bad.append((locked / "x.png", "permission denied"))
    for out, fragment in bad:
        code, err = cli(["export", "figure", "gram", "--experiment", str(ids["weights"]),
                         "--out", str(out), "--db", str(path)], capsys)
        assert code == 2 and err.count("\n") == 1 and fragment in err, err


def test_export_figure_command_writes_pdf(lab, tmp_path, capsys):
    path, ids = lab
    out = tmp_path / "gram.pdf"
    code, err = cli(["export", "figure", "gram", "--experiment", str(ids["weights"]),
                     "--out", str(out), "--db", str(path)], capsys)
    assert code == 0 and out.read_bytes().startswith(b"%PDF") and "wrote" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files
