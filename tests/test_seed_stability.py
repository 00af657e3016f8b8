"""Seed stability of a sweep point (issue 12): the share of its seeds whose last-feature
classes match the chosen seed's, experts matched; as a view, a read and a mark on the
exported phase diagram."""

from __future__ import annotations

import pytest

from moelab.db import open_store
from moelab.engine.client import DirectClient
from moelab.figures import export

# point -> seeds -> per expert (norm, monosemantic) of the last feature; seed 0 is chosen
POINTS = {
    0: [[(1.0, True), (0.1, False)],  # chosen: monosemantic + ignored
        [(0.1, False), (0.9, True)],  # the same, experts swapped: matches
        [(0.9, False), (0.1, False)]],  # superposition + ignored: differs
    1: [[(0.8, False), (0.7, False)], [(0.8, True), (0.7, False)],
        [(0.1, False), (0.1, False)]],  # neither other seed matches
    2: [[(0.8, False), (0.7, False)]] * 3,  # all alike
}
CELLS = {0: (0.5, 1.0), 1: (0.9, 2.0), 2: (0.9, 1.0)}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("stability") / "lab.duckdb"
    runs = {c: [] for c in ("local_index", "kind", "n_features", "d_hidden", "n_experts", "k",
                            "gating", "router_init", "sparsity", "last_importance", "seed",
                            "chosen", "point", "eval_loss")}
    feats = {c: [] for c in ("local_index", "expert", "feature", "norm", "monosemantic")}
    for point, seeds in POINTS.items():
        for seed, experts in enumerate(seeds):
            i = len(runs["local_index"])
            for c, v in (("local_index", i), ("kind", "moe"), ("n_features", 2),
                         ("d_hidden", 1), ("n_experts", 2), ("k", 1), ("gating", "renorm"),
                         ("router_init", "xavier"), ("sparsity", CELLS[point][0]),
                         ("last_importance", CELLS[point][1]), ("seed", seed),
                         ("chosen", seed == 0), ("point", point), ("eval_loss", 0.1)):
                runs[c].append(v)
            for e, (norm, mono) in enumerate(experts):
                for f in (0, 1):  # feature 0 is not the last one: it must not count
                    for c, v in (("local_index", i), ("expert", e), ("feature", f),
                                 ("norm", norm if f == 1 else 0.0),
                                 ("monosemantic", mono if f == 1 else True)):
                        feats[c].append(v)
    with open_store(path) as store:
        eid = store.create_experiment("stability", None, "{}", status="running")
        store.write_runs(eid, [{"runs": runs, "features": feats}])
        store.set_experiment_status(eid, "done")
    return path, eid


def test_view_and_read_give_the_share_of_matching_seeds(lab):
    path, eid = lab
    with open_store(path, read_only=True) as store:
        _, rows = store.query("SELECT point, n_seeds, n_matching, stability, chosen_classes "
                              "FROM seed_stability ORDER BY point")
    assert [r[:4] for r in rows] == [(0, 3, 2, pytest.approx(2 / 3)),
                                     (1, 3, 1, pytest.approx(1 / 3)), (2, 3, 3, 1.0)]
    assert rows[0][4] == ["ignored", "monosemantic"]
    client = DirectClient(path)
    try:
        read = client.read("seed_stability", experiment_id=eid)
    finally:
        client.close()
    assert read["stability"] == [pytest.approx(2 / 3), pytest.approx(1 / 3), 1.0]
    assert read["sparsity"] == [0.5, 0.9, 0.9] and read["n_experts"] == [2, 2, 2]


def test_phase_diagram_marks_unstable_cells(lab, tmp_path):
    path, eid = lab
    client = DirectClient(path)
    try:
        from moelab.figures.phase import _unstable_cells
        from moelab.figures.render import source
        # 2/3 is not below one half, 1/3 is
        assert _unstable_cells(source(client, eid)) == {(2, 1, 2): {(0.9, 2.0)}}
        plain = export(client, "phase-diagram", eid, tmp_path / "plain.svg").read_text()
        svg = export(client, "phase-diagram", eid, tmp_path / "p.svg",
                     stability=True).read_text()
    finally:
        client.close()
    assert "unstable point (1 of them)" in svg  # marked on request (--stability) only
    assert "unstable point" not in plain
