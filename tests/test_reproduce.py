"""`moelab reproduce` on a tiny subset: trains in this process (no service), writes the
figures and a REPORT.md with numbers; a second call reuses the stored experiments."""

from __future__ import annotations

import pytest

from moelab.cli import main


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    db, out = root / "lab.duckdb", root / "figures"
    code = main(["reproduce", "fig5", "--quick", "--db", str(db), "--out", str(out)])
    return code, db, out


def test_reproduce_writes_figures_and_report(reproduced):
    code, _, out = reproduced
    assert code == 0
    files = {p.name for p in out.iterdir()}
    assert {"fig5-routing-regions.png", "fig5-training-curves-router_grad_norm.png",
            "REPORT.md"} <= files
    assert all((out / f).stat().st_size > 1000 for f in files if f.endswith(".png"))
    report = (out / "REPORT.md").read_text()
    assert "## fig5" in report and "**Paper:**" in report and "**Verdict:**" in report
    # the numbers of the routed-regions claim: one row per router init with its loss
    for init in ("zeros", "xavier", "diagonal"):
        assert f"| {init} |" in report
    assert "| fig5 |" in report  # the summary table


def test_second_reproduce_reuses_and_seeds_change_the_config(reproduced, capsys):
    code, db, out = reproduced
    assert main(["reproduce", "fig5", "--quick", "--db", str(db), "--out", str(out)]) == 0
    assert "reusing experiment 1" in capsys.readouterr().err
    assert main(["sql", "SELECT count(*) AS n FROM experiments", "--db", str(db),
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["n", "1"]


@pytest.mark.parametrize("argv, fragment", [
    (["reproduce", "fig99"], "unknown figure 'fig99'"),
    (["reproduce", "fig5", "--seeds", "0"], "--seeds must be at least 1"),
])
def test_reproduce_bad_input(tmp_path, capsys, argv, fragment):
    db = tmp_path / "lab.duckdb"
    assert main([*argv, "--db", str(db), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
    assert not db.exists()


def test_reproduce_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["reproduce", "fig5", "--quick", "--db", str(tmp_path / "lab.duckdb"),
                 "--out", str(blocker / "sub")]) == 2
    assert "cannot create --out" in capsys.readouterr().err
