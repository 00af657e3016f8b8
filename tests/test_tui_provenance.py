"""What a view says is the experiment it shows (issue 20, items 2, 3 and 7): the phase
diagram opened on an imported experiment and switched to a trained one titles, exports,
offers colourings and describes the cursor's cell of the trained one; the Experts view of an
imported experiment says why it has no curve and no MoE Lens (the authors' files hold no
routers); the curves' legend names n; the MoE Lens per-setup table fits at 160 columns."""

from __future__ import annotations

import pytest
from test_phase_layers import layers_db
from test_tui_support import FakeClient, run_app_test, seeded_db, text, until
from textual.widgets import Select

from moelab.engine.client import DirectClient
from moelab.tui.screens.experts import ExpertsScreen, series
from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.widgets.cell_grid import CellGrid
from moelab.tui.widgets.plot import Plot

pytestmark = pytest.mark.usefixtures("private_dirs")
TRAINED, IMPORTED = 1, 2  # layers_db(): a fig4-like sweep with metrics; the authors' 312.npz


def runs_of(experiment: int) -> set[int]:
    with DirectClient(layers_db()) as c:
        _, rows = c.sql(f"SELECT run_id FROM runs WHERE experiment_id = {experiment}")
    return {r[0] for r in rows}


def test_the_phase_view_switched_from_an_import_says_only_the_trained_experiment():
    trained_runs = runs_of(TRAINED)

    async def body(app, pilot):
        await until(pilot, lambda: app.current_experiment is not None)  # Runs chose one
        app.current_experiment = IMPORTED  # opens on the import, as a new lab's 3 may
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen))
        screen = app.screen
        await until(pilot, lambda: screen.experiment == IMPORTED and "312.npz"
                    in text(app, "#phase-title") and len(screen.query(CellGrid)) == 2)
        await until(pilot, lambda: screen.query(CellGrid).first().has_focus)
        await pilot.press("right")  # the cursor line describes an imported cell
        await until(pilot, lambda: "seeds 1" in text(app, "#cell-info"))
        select = screen.query_one("#experiment", Select)
        select.focus()  # picked from the picker: the focus stays there
        select.value = TRAINED
        await until(pilot, lambda: screen.experiment == TRAINED
                    and len(screen.query(CellGrid)) == 3 and screen.drawn
                    and len(screen.drawn) == 3)
        await pilot.pause(0.3)
        title = text(app, "#phase-title")
        assert "experiment 1 layers" in title and "312.npz" not in title, title
        assert "best of 3 seeds per point" in title and "(done, " in title
        spec = screen.figure_spec()
        assert "layers" in spec["title"] and "312.npz" not in spec["title"]
        assert "step through" not in spec["title"]  # the figure carries no key hints
        # the colourings are the trained experiment's: its metrics have values
        labels = {key: str(label) for label, key in
                  screen.query_one("#colouring", Select)._options}
        assert "no values here" not in labels["metric:run_number"], labels
        # the cursor line is of a trained run, or empty: never the import's
        info = text(app, "#cell-info")
        shown = [int(w) for w in info.replace("│", " ").split("run ")[-1].split()[:1]
                 if w.isdigit()] if "run " in info else []
        assert not shown or shown[0] in trained_runs, info
        assert "seeds 1" not in info
    run_app_test(FakeClient(layers_db()), body, size=(110, 50))


def test_experts_of_an_import_says_the_files_hold_no_routers():
    async def body(app, pilot):
        await until(pilot, lambda: app.current_experiment is not None)  # Runs chose one
        app.current_experiment = IMPORTED
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, ExpertsScreen))
        screen = app.screen
        await until(pilot, lambda: screen.experiment == IMPORTED and "imported"
                    in text(app, "#fpd-note"))
        note = text(app, "#fpd-note")
        assert "no routers" in note and "this experiment has one" not in note, note
        await until(pilot, lambda: "no router" in text(app, "#lens-numbers"))
        assert "312.npz" in text(app, "#lens-numbers")
        assert "stored before MoE Lens" not in text(app, "#lens-numbers")
        assert "no routers" in str(screen.query_one("#lens-setups").get_row_at(0)[0])
    run_app_test(FakeClient(layers_db()), body, size=(160, 45))


def test_the_curves_name_n_and_the_lens_table_fits_at_160_columns():
    rows = [{"kind": "moe", "n_features": n, "n_experts": 2, "k": 1, "d_hidden": 1,
             "sparsity": s, "fpd": n + s, "eval_loss": 0.1} for n in (2, 3) for s in (0.1, 0.9)]
    lines = series(rows, "fpd")  # n = 2 and n = 3: two curves, not one averaged
    assert list(lines) == ["n=2 E=2 k=1 m=1", "n=3 E=2 k=1 m=1"]

    async def body(app, pilot):
        await until(pilot, lambda: app.current_experiment is not None)  # Runs chose one
        app.current_experiment = 1
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, ExpertsScreen))
        screen = app.screen
        await until(pilot, lambda: screen.query_one("#lens-setups").row_count > 0
                    and screen.query_one(Plot).display, timeout=30)
        await pilot.pause(0.3)
        table = screen.query_one("#lens-setups")
        assert table.virtual_size.width <= table.size.width, (table.virtual_size, table.size)
        assert any(name.startswith("n=2 E=2") for name in series(screen.curves, "fpd"))
    run_app_test(FakeClient(seeded_db()), body, size=(160, 45))
