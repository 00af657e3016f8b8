"""The phase diagram's layout (issue 20, item 5): its title is one or two lines whatever the
experiment (an import of several files listed every file's save time, seven lines of 30),
and its cells are as large as the grids' box allows (two rows of grids per screen kept them
at 4 × 2 characters on 160 × 45): a row of grids fits the box, one size up would not."""

from __future__ import annotations

import shutil

import pytest
from test_npz_import import write_npz
from test_tui_support import FakeClient, run_app_test, seeded_db, text, until

from moelab.cli import main
from moelab.tui.screens.phase import MOST_LEVEL, PhaseScreen
from moelab.tui.widgets.cell_grid import CellGrid

pytestmark = pytest.mark.usefixtures("private_dirs")
SIZES = [(100, 30), (160, 45)]
SETUPS = [(2, 1, 2), (3, 1, 2), (3, 1, 3), (3, 2, 2)]  # (n, m, E), one file each


@pytest.fixture
def lab_with_import(tmp_path):
    """seeded_db() (experiment 1: a fig4-like sweep, 3 × 3 points) and experiment 4: four
    of the authors' files imported together, its name 80 characters long."""
    path = tmp_path / "lab.duckdb"
    shutil.copy(seeded_db(), path)
    files = [str(write_npz(tmp_path / f"phase_diagram_n{n}_m{m}_E{E}.npz", n=n, m=m, E=E))
             for n, m, E in SETUPS]
    assert main(["import", "npz", *files, "--db", str(path)]) == 0
    return path


async def open_phase(app, pilot, experiment: int, n_grids: int) -> PhaseScreen:
    from textual.widgets import Select
    await until(pilot, lambda: app.current_experiment is not None)  # Runs chose one
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.screen, PhaseScreen)
                and app.screen.experiment is not None)
    screen = app.screen
    if screen.experiment != experiment:
        screen.query_one("#experiment", Select).value = experiment
    await until(pilot, lambda: screen.experiment == experiment
                and len(screen.query(CellGrid)) == n_grids and screen.drawn)
    await pilot.pause(0.5)  # laid out, and refitted to the box it got
    return screen


@pytest.mark.parametrize("size", SIZES)
def test_an_imports_title_is_two_lines_at_most(lab_with_import, size):
    async def body(app, pilot):
        screen = await open_phase(app, pilot, 4, sum(E for _, _, E in SETUPS))
        title = screen.query_one("#phase-title")
        assert 1 <= title.size.height <= 2, text(app, "#phase-title")
        assert "4 files (saved 2025-08-15)" in text(app, "#phase-title")
        assert "best of 10 seeds per cell" in text(app, "#phase-title")
        # nothing cut: the title's text fits the lines it has
        assert len(title.render().plain if hasattr(title.render(), "plain")
                   else str(title.render())) <= 2 * title.size.width
    run_app_test(FakeClient(lab_with_import), body, size=size)


@pytest.mark.parametrize("size", SIZES)
def test_cells_are_as_large_as_the_box_allows(size):
    async def body(app, pilot):
        screen = await open_phase(app, pilot, 1, 3)
        box = screen.query_one("#phase-grids")
        grids = list(screen.query(CellGrid))
        level = grids[0].level
        assert all(g.level == level for g in grids) and level >= 1

        def fits() -> bool:
            widest = max(sum(g.outer_size.width for g in row.query(CellGrid))
                         for row in screen.query(".phase-row"))
            tallest = max(row.outer_size.height for row in screen.query(".phase-row"))
            return widest <= box.size.width and tallest + 1 <= box.size.height
        assert fits(), (level, box.size)
        if level < MOST_LEVEL:  # one size up, a row of grids overflows the box
            for g in grids:
                g.level = level + 1
            await pilot.pause(0.3)
            assert not fits(), (level, box.size)
        if size == (160, 45):  # two rows of grids a screen drew these 3 × 3 grids at 3
            assert level > 3, level
    run_app_test(FakeClient(seeded_db()), body, size=size)
