"""The authors' phase-diagram format as an input (issue 12): small synthetic files in that
format, imported and compared with known answers; bad input is one line, exit status 2,
nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from moelab.cli import main
from moelab.db import open_store
from moelab.engine.compare import IGNORED, MONOSEMANTIC, SUPERPOSITION, Cell, match

S_VALUES = [0.1, 0.9]
I_VALUES = [0.5, 2.0]


def cell_weights(E: int = 2, n: int = 3, m: int = 1) -> np.ndarray:
    """(cells, E, n, m), features as rows (the file's layout): expert e holds feature e
    alone (norm 1), the last feature (n - 1) with norm 0.8 in expert 0 only."""
    W = np.zeros((4, E, n, m), dtype=np.float32)
    for e in range(E):
        W[:, e, e, 0] = 1.0
    W[:, 0, n - 1, 0] = 0.0
    W[:, 1, n - 1, 0] = 0.8  # shares expert 1's only dimension with feature 1: superposition
    return W


def write_npz(path, W=None, drop: str | None = None, n: int = 3, m: int = 1, E: int = 2):
    W = cell_weights(E, n, m) if W is None else W
    keys = np.array([[s, i] for s in S_VALUES for i in I_VALUES])
    data = dict(sparsity_values=np.array(S_VALUES), importance_values=np.array(I_VALUES),
                grid_keys=keys, final_losses=np.linspace(0.1, 0.4, 4),
                expert_weights_list=W, router_weights_list=np.array([None] * 4, dtype=object),
                config_params=np.array({"n_features": n, "n_hidden": m, "n_experts": E,
                                        "n_active_experts": 1, "steps": 5000,
                                        "n_models_per_cell": 10}, dtype=object),
                save_timestamp=np.array("2025-08-15T12:19:16"))
    if drop:
        data.pop(drop)
    np.savez(path, **data)
    return path


def cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_round_trip(tmp_path, capsys):
    db = tmp_path / "lab.duckdb"
    f = write_npz(tmp_path / "312.npz")
    code, out, err = cli(["import", "npz", str(f), "--db", str(db)], capsys)
    assert code == 0, err
    with open_store(db, read_only=True) as store:
        _, exp = store.query("SELECT preset, status, message FROM experiments")
        assert exp[0][:2] == ("import", "done") and "312.npz (saved 2025-08-15" in exp[0][2]
        _, runs = store.query("SELECT sparsity, last_importance, chosen, n_experts, kind, "
                              "imported_from, final_loss FROM runs ORDER BY run_id")
        assert [(r[0], r[1]) for r in runs] == [(s, i) for s in S_VALUES for i in I_VALUES]
        assert all(r[2:6] == (True, 2, "moe", "312.npz") for r in runs)
        assert [r[6] for r in runs] == pytest.approx(np.linspace(0.1, 0.4, 4))
        _, w = store.query("SELECT W FROM weights WHERE expert = 1 ORDER BY run_id LIMIT 1")
        assert w[0][0] == pytest.approx([0.0, 1.0, 0.8])  # (m, n) row-major: the row, as is
        _, f = store.query("SELECT expert, norm, monosemantic FROM last_feature "
                           "ORDER BY run_id, expert LIMIT 2")
        assert [(e, round(nm, 6), mono) for e, nm, mono in f] == [(0, 0.0, False),
                                                                  (1, 0.8, False)]
        _, imp = store.query("SELECT importance FROM features WHERE feature = 2 AND expert = 0 "
                             "ORDER BY run_id")
        assert [r[0] for r in imp] == pytest.approx([0.5, 2.0, 0.5, 2.0])


def test_compare_with_a_known_answer(tmp_path, capsys):
    db = tmp_path / "lab.duckdb"
    a = write_npz(tmp_path / "a.npz")
    W = cell_weights()
    W[0] = W[0][::-1].copy()  # cell 0: experts swapped, the same model
    W[1, 1, 2, 0] = 0.0  # cell 1: the last feature ignored instead of in superposition
    W[2, 1, 2, 0] = 0.7  # cell 2: the same class, norm 0.1 smaller
    b = write_npz(tmp_path / "b.npz", W)
    for f in (a, b):
        assert cli(["import", "npz", str(f), "--db", str(db)], capsys)[0] == 0
    code, out, err = cli(["compare", "1", "2", "--db", str(db)], capsys)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("312"))
    # 3 of 4 cells match; |Δ norm| per cell, mean over its 2 matched experts: 0, .4, .05, 0
    assert line.split()[-4:] == ["4", "75.0%", "87.5%", f"{(0.4 + 0.05) / 4:.3f}"]
    png = tmp_path / "diff.png"
    code, _, err = cli(["export", "figure", "phase-diff", "--experiment", "1", "--against", "2",
                        "--out", str(png), "--db", str(db)], capsys)
    assert code == 0 and png.stat().st_size > 1000, err


@pytest.mark.parametrize("make, fragment", [
    (lambda p: write_npz(p, drop="expert_weights_list"), "missing key expert_weights_list"),
    (lambda p: (p.write_text("not a zip"), p)[1], "is not an .npz file"),
    (lambda p: write_npz(p, W=np.zeros((3, 2, 3, 1))), "4 cells"),
])
def test_a_file_of_another_format_is_one_line_and_writes_nothing(tmp_path, capsys, make,
                                                                  fragment):
    db = tmp_path / "lab.duckdb"
    f = make(tmp_path / "x.npz")
    code, _, err = cli(["import", "npz", str(f), "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not db.exists()


def test_compare_without_common_cells_is_one_line(tmp_path, capsys):
    db = tmp_path / "lab.duckdb"
    cli(["import", "npz", str(write_npz(tmp_path / "312.npz")), "--db", str(db)], capsys)
    cli(["import", "npz", str(write_npz(tmp_path / "313.npz", W=np.zeros((4, 3, 3, 1)), E=3)),
         "--db", str(db)], capsys)
    code, out, err = cli(["compare", "1", "2", "--db", str(db)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no cells in common" in err and not out


def test_match_pairs_experts_and_needs_equal_classes():
    a = Cell.of([1.0, 0.0, 0.6], [MONOSEMANTIC, IGNORED, SUPERPOSITION])
    b = Cell.of([0.0, 0.7, 1.0], [IGNORED, SUPERPOSITION, MONOSEMANTIC])  # permuted
    assert match(a, b) == (True, pytest.approx(0.1 / 3))
    c = Cell.of([0.0, 0.7, 1.0], [IGNORED, MONOSEMANTIC, MONOSEMANTIC])
    assert match(a, c)[0] is False


def test_quick_fig4_grid_lies_on_the_authors_grid():
    from moelab.engine.presets import build_config
    full, quick = (dict(build_config("fig4", quick=q).sweep.axes) for q in (False, True))
    for axis in ("data.sparsity", "data.last_importance"):
        assert len(quick[axis]) == 5 and set(quick[axis]) <= set(full[axis])
    assert len(full["data.sparsity"]) == 39 and len(full["data.last_importance"]) == 58


def test_import_through_a_running_service_and_bad_input_writes_nothing(lab, tmp_path, capsys):
    client = lab()  # starts the lab service, which holds the file from now on
    db = str(lab.db)
    a, b = write_npz(tmp_path / "312.npz"), write_npz(tmp_path / "a.npz")  # b: a's setup
    bad = write_npz(tmp_path / "bad.npz", drop="grid_keys")
    for files, fragment in (([bad], "missing key grid_keys"),
                            ([a, b], "hold the same setup")):
        code, _, err = cli(["import", "npz", *map(str, files), "--db", db], capsys)
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert client.sql("SELECT count(*) FROM experiments")[1] == [[0]]
    code, out, err = cli(["import", "npz", str(a), "--name", "theirs", "--db", db], capsys)
    assert code == 0 and "experiment 1" in out and "4 cells" in out, err
    assert client.request("ping")["pid"]  # the same service: it stored the import
    _, exp = client.sql("SELECT name, preset, status, n_runs, message FROM experiments")
    assert exp[0][:4] == ["theirs", "import", "done", 4] and "312.npz (saved 2025" in exp[0][4]
    _, runs = client.sql("SELECT sparsity, last_importance, chosen, imported_from FROM runs "
                         "ORDER BY run_id")
    assert runs == [[s, i, True, "312.npz"] for s in S_VALUES for i in I_VALUES]
    _, w = client.sql("SELECT W FROM weights WHERE expert = 1 ORDER BY run_id LIMIT 1")
    assert w[0][0] == pytest.approx([0.0, 1.0, 0.8])


def test_the_service_refuses_an_import_of_bad_arrays_and_writes_nothing(lab):
    from moelab.engine.client import ClientError
    client = lab()
    good = {"file": "x.npz", "saved_at": "2025", "config": {"n_active_experts": 1},
            "grid_keys": [[0.1, 1.0]], "final_losses": [0.1], "W": [[[[1.0, 0.0]]]]}
    for bad, fragment in (([], "non-empty list"), ([{"file": "x.npz"}], "needs the keys"),
                          ([{**good, "W": [[1.0]]}], "do not fit together"),
                          ([{**good, "W": "text"}], "arrays of numbers")):
        with pytest.raises(ClientError, match=fragment):
            client.request("import_npz", files=bad)
    assert client.sql("SELECT count(*) FROM experiments")[1] == [[0]]
    assert client.request("import_npz", files=[good], name="one")["n_runs"] == 1
