"""The phase diagram's layers (issues 12 and 14), in the TUI and in `export figure
phase-diagram`: unstable points marked, the diagram at a snapshot step, custom metrics as
colourings, and an imported experiment's title saying what it is."""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path

import pytest
from test_npz_import import write_npz
from test_tui_support import FIG4_TINY, FakeClient, phase_cells, run_app_test, text, until

from moelab.cli import main
from moelab.engine.client import DirectClient
from moelab.tui.colours import sequential
from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.widgets.cell_grid import CellGrid

SNAPSHOTS = 4


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MOELAB_CONFIG_DIR", str(tmp_path / "config"))


@functools.cache
def layers_db() -> Path:
    """Experiment 1: a fig4-like sweep, 3 seeds a point, 4 snapshots a run, two custom
    metrics with values (scalar run_number = run_id; per_expert = run_id + 10 · expert) and
    one registered without any; experiment 2: an imported authors' file (10 seeds a cell)."""
    from runner_support import run_in_memory

    from moelab.db import open_store
    from moelab.db.metric_store import add_metric, store_metric_values
    from moelab.engine.config import from_dict
    folder = Path(tempfile.mkdtemp(prefix="moelab-layers-"))
    path = folder / "layers.duckdb"
    raw = copy.deepcopy(FIG4_TINY)
    raw["train"].update(seeds=3, snapshots=SNAPSHOTS)
    cfg = from_dict(raw, name="layers")
    with open_store(path) as store:
        eid = store.create_experiment("layers", "fig4", cfg.to_json())
        store.write_runs(eid, run_in_memory(cfg, "cpu").chunks)
        store.set_experiment_status(eid, "done")
        _, rows = store.query("SELECT run_id, n_experts FROM runs ORDER BY run_id")
        ids = [r for r, _ in rows]
        none = [None] * len(ids)
        for name in ("run_number", "per_expert", "never_computed"):
            add_metric(store, name, f"mymetrics:{name}")
        store_metric_values(store, "run_number", ids, {
            "run_id": ids, "expert": none, "feature": none, "value": [float(i) for i in ids]},
            {"run_id": [], "error": []})
        per = [(r, e) for r, E in rows for e in range(E)]
        store_metric_values(store, "per_expert", ids, {
            "run_id": [r for r, _ in per], "expert": [e for _, e in per],
            "feature": [None] * len(per), "value": [r + 10.0 * e for r, e in per]},
            {"run_id": [], "error": []})
    assert main(["import", "npz", str(write_npz(folder / "312.npz")), "--db", str(path)]) == 0
    return path


async def open_phase(app, pilot, experiment: int = 1, n_grids: int = 3) -> PhaseScreen:
    from textual.widgets import Select
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.screen, PhaseScreen)
                and app.screen.experiment is not None)
    if app.screen.experiment != experiment:
        app.screen.query_one("#experiment", Select).value = experiment
    await until(pilot, lambda: app.screen.experiment == experiment
                and app.screen.overlay.experiment == experiment
                and len(app.screen.query(CellGrid)) == n_grids)
    await until(pilot, lambda: app.screen.query(CellGrid).first().has_focus)
    return app.screen


def stability_forced(run_id: int):
    """The stored seed stability with one point made unstable and every other stable."""
    def read(experiment_id):
        with DirectClient(layers_db()) as c:
            cols = c.read("phase_stability", experiment_id=experiment_id)
        cols["stability"] = [0.0 if r == run_id else 1.0 for r in cols["run_id"]]
        return cols
    return read


# -- TUI ---------------------------------------------------------------------------------
def test_unstable_points_are_marked_counted_and_shown_under_the_cursor():
    with DirectClient(layers_db()) as c:
        # the dense setup's cell at the top left (highest sparsity, lowest importance)
        run_id = c.sql("SELECT run_id FROM runs WHERE experiment_id = 1 AND chosen AND "
                       "n_experts = 1 ORDER BY sparsity DESC, last_importance LIMIT 1")[1][0][0]

    async def body(app, pilot):
        screen = await open_phase(app, pilot)
        grid = screen.query(CellGrid).first()
        await until(pilot, lambda: grid.flagged == {(0, 0)})
        assert [g.flagged for g in screen.query(CellGrid)][1:] == [set(), set()]
        assert "1 of 18 points unstable" in text(app, "#legend")
        assert "?" in grid.as_text().plain
        assert "best of 3 seeds per point" in text(app, "#phase-title")
        await pilot.press("right")  # a stable cell, then back to the unstable one
        await until(pilot, lambda: "seeds 3 stability 1 " in text(app, "#cell-info") + " ")
        await pilot.press("left")
        await until(pilot, lambda: "seeds 3 stability 0 unstable" in text(app, "#cell-info"))
        spec = screen.figure_spec()  # F3 draws the marks too
        assert spec["panels"][0]["marks"] == [[0, 0]] and "unstable point" in spec["title"]
    run_app_test(FakeClient(layers_db(), {"phase_stability": stability_forced(run_id)}),
                 body, size=(110, 50))


def test_the_step_control_redraws_the_diagram_at_each_snapshot_and_back_to_final():
    with DirectClient(layers_db()) as c:
        steps = c.read("phase_snapshot_steps", experiment_id=1)
        at0 = c.read("phase_at_step", experiment_id=1, step=0)
    assert len(steps) == SNAPSHOTS and steps[0] == 0

    async def body(app, pilot):
        screen = await open_phase(app, pilot)
        grid = screen.query(CellGrid).first()
        final = [row[:] for row in grid.colours]
        assert "final weights" in text(app, "#phase-title")
        await pilot.press("comma")
        await until(pilot, lambda: f"at training step {steps[-1]} (snapshot {SNAPSHOTS} of"
                    in text(app, "#phase-title"))
        for _ in range(SNAPSHOTS):  # past the first snapshot it stays at step 0
            await pilot.press("comma")
        await until(pilot, lambda: "at training step 0 " in text(app, "#phase-title"))
        assert grid.colours != final  # the initialisation is not the trained diagram
        cell = screen.cell_at(grid.id, *grid.cursor)
        i = at0["run_id"].index(cell["run_id"])
        assert cell["norm"] == at0["norm"][i] and cell["step"] == 0
        await until(pilot, lambda: "step 0" in text(app, "#cell-info"))
        assert not any(g.flagged for g in screen.query(CellGrid))  # stability: final only
        for _ in range(SNAPSHOTS + 1):
            await pilot.press("full_stop")
        await until(pilot, lambda: "final weights" in text(app, "#phase-title"))
        assert grid.colours == final
    run_app_test(FakeClient(layers_db()), body, size=(110, 50))


def test_custom_metrics_join_the_colouring_cycle_on_one_numeric_scale():
    async def body(app, pilot):
        screen = await open_phase(app, pilot)
        names = screen.colouring_names()
        assert names[-3:] == ["metric:never_computed", "metric:per_expert",
                              "metric:run_number"]
        while screen.colouring != "metric:per_expert":
            await pilot.press("v")
        await until(pilot, lambda: "per_expert" in screen.overlay.values)
        await until(pilot, lambda: "custom metric per_expert" in text(app, "#legend"))
        grids = {g.title: g for g in screen.query(CellGrid)}
        cells = phase_cells(screen.grids)
        lo, hi = min(c["run_id"] for c in cells), max(c["run_id"] + 10 * c["expert"]
                                                          for c in cells)
        assert f"{lo} " in text(app, "#legend") and f" {hi}" in text(app, "#legend")
        g1 = grids["4.A expert 1 of 2"]
        cell = screen.cell_at(g1.id, 0, 0)
        assert g1.colours[0][0] == sequential((cell["run_id"] + 10 - lo) / (hi - lo))
        await pilot.press("v")
        await until(pilot, lambda: "per_expert" not in text(app, "#legend")
                    and "run_number" in text(app, "#legend"))
        await until(pilot, lambda: "run_number" in screen.overlay.values)
        assert "run_number" in text(app, "#cell-info")
        for _ in range(len(names) - 2):  # around to never_computed: says how to fill it
            await pilot.press("v")
        await until(pilot, lambda: screen.colouring == "metric:never_computed")
        await until(pilot, lambda: "moelab metric compute never_computed --experiment 1"
                    in text(app, "#legend"))
    run_app_test(FakeClient(layers_db()), body, size=(110, 50))


def test_an_imported_experiment_is_titled_as_the_authors_file():
    async def body(app, pilot):
        await open_phase(app, pilot, experiment=2, n_grids=2)
        await until(pilot, lambda: "312.npz" in text(app, "#phase-title"))
        title = text(app, "#phase-title")
        assert "imported from the authors' 312.npz (saved 2025-08-15" in title
        assert "best of 10 seeds per cell" in title and "single seed" not in title
        assert "final weights" in title
        await pilot.press("comma")  # no snapshots in a file: says so, stays final
        await pilot.pause(0.3)
        assert app.screen.overlay.step is None
    run_app_test(FakeClient(layers_db()), body, size=(110, 50))


# -- export figure -----------------------------------------------------------------------
def export(tmp_path, capsys, *args, experiment: int = 1, out: str = "p.svg"):
    path = tmp_path / out
    code = main(["export", "figure", "phase-diagram", "--experiment", str(experiment),
                 "--out", str(path), "--db", str(layers_db()), *args])
    err = capsys.readouterr().err
    return code, err, (path.read_text() if path.exists() and code == 0 else "")


def test_figure_at_a_snapshot_step(tmp_path, capsys):
    code, err, svg = export(tmp_path, capsys, "--step", "0")
    assert code == 0, err
    assert "at training step 0;" in svg
    code, err, svg = export(tmp_path, capsys, "--step", "1")
    assert code == 0 and "the snapshot nearest to step 1" in svg, err
    code, err, final = export(tmp_path, capsys)
    assert "final weights" in final
    for args, experiment, fragment in ((["--step", "100000"], 1, "no snapshot at or near"),
                                       (["--step", "0"], 2, "stored no snapshots")):
        code, err, _ = export(tmp_path, capsys, *args, experiment=experiment, out="bad.svg")
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
        assert not (tmp_path / "bad.svg").exists()


def test_figure_coloured_by_a_custom_metric_and_bad_names(tmp_path, capsys):
    code, err, svg = export(tmp_path, capsys, "--color", "metric:per_expert", "--stability")
    assert code == 0, err
    assert "custom metric per_expert, one scale for every panel" in svg
    assert "unstable point" in svg
    code, err, svg = export(tmp_path, capsys, "--color", "loss")
    assert code == 0 and "evaluation loss" in svg, err
    for args, fragment in ((["--color", "metric:nope"], "no custom metric named 'nope'"),
                           (["--color", "metric:never_computed"], "metric compute"),
                           (["--color", "rainbow"], "--color is paper")):
        code, err, _ = export(tmp_path, capsys, *args, out="bad.svg")
        assert code == 2 and err.count("\n") == 1 and fragment in err, err
        assert not (tmp_path / "bad.svg").exists()
    code = main(["export", "figure", "gram", "--experiment", "1", "--step", "0", "--out",
                 str(tmp_path / "g.png"), "--db", str(layers_db())])
    assert code == 2 and "phase-diagram only" in capsys.readouterr().err


def test_figure_of_an_imported_experiment_names_the_file_and_its_seeds(tmp_path, capsys):
    code, err, svg = export(tmp_path, capsys, experiment=2)
    assert code == 0, err
    assert "imported from the authors' 312.npz" in svg and "best of 10 seeds" in svg
    assert "single seed per point" not in svg
