"""`lab.figure` and `lab.phase` (issue 20, in a notebook): the figure `export figure` writes,
and the phase grid as a DataFrame, on a small synthetic lab (tests/test_noise_floor.py)."""

from __future__ import annotations

import pytest
from test_noise_floor import CELLS, CONFIG_A, A, B, _write

import moelab
from moelab.db import open_store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lab.duckdb"
    with open_store(path) as store:
        _write(store, "A", A, CONFIG_A)
        _write(store, "B", B, {**CONFIG_A, "name": "B"})
    return path


def test_phase_is_the_grid_of_chosen_runs_with_their_classes(db):
    with moelab.open(db) as lab:
        grid = lab.phase(1)
    assert len(grid) == 2 * 3 * 2  # setups × cells × experts, chosen runs only
    x = grid[(grid.n_features == 2)].sort_values(["sparsity", "last_importance", "expert"])
    assert list(zip(x.sparsity, x.last_importance, strict=True))[::2] == CELLS
    # the chosen seed's classes of setup X, cell by cell (A's first seed)
    assert list(x["class"]) == ["monosemantic", "ignored", "superposition", "superposition",
                                "superposition", "superposition"]


def test_figure_is_the_exported_figure(db, tmp_path):
    import matplotlib.pyplot as plt

    from moelab.engine.client import DirectClient
    from moelab.figures import export
    from moelab.figures.style import RC
    out = tmp_path / "export.png"
    with DirectClient(db) as client:
        export(client, "phase-diff", 1, out, against=2, dpi=60)
    with moelab.open(db) as lab:
        fig = lab.figure("phase-diff", experiment=1, against=2)
    assert fig.number not in plt.get_fignums()  # detached: Jupyter shows it once
    mine = tmp_path / "mine.png"
    with plt.rc_context(RC):
        fig.savefig(mine, dpi=60)
    assert mine.read_bytes() == out.read_bytes()
    with moelab.open(db) as lab, pytest.raises(moelab.figures.FigureError, match="table"):
        lab.figure("usage-table", experiment=1)
