"""Phase diagram: one grid per expert for a sweep over sparsity × last-feature importance,
in the paper's layout (4.X.e/E), coloured by SPEC's formula or one metric."""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Select, Static

from ..colours import phase_colour, sequential, unit_scale
from ..fetch import Fetched, fetch
from ..format import num, setup_label
from ..messages import DataChanged
from ..widgets.cell_grid import CellGrid
from . import pickers
from .base import LabScreen

# What colours the grid: label, and the cell field (None: SPEC's two-metric colour).
COLOURINGS = {
    "paper": ("paper colour: x = superposition (j≠i), y = norm", "superposition"),
    "paper-all": ("paper colour, authors' superposition (all j)", "superposition_all"),
    "norm": ("norm of the last feature", "norm"),
    "superposition": ("superposition of the last feature (j≠i)", "superposition"),
    "dimensionality": ("dimensionality of the last feature", "dimensionality"),
    "loss": ("evaluation loss", "eval_loss"),
}


def grid_colours(grid: dict, expert: int, colouring: str) -> tuple[list, dict]:
    """Colours (rows top = highest importance, cols = sparsity) and the cell of each slot."""
    xs, ys = grid["sparsity"], grid["last_importance"]
    cells = {(c["sparsity"], c["last_importance"]): c for c in grid["cells"]
             if c["expert"] == expert}
    slots = [(s, li) for li in reversed(ys) for s in xs]
    found = [cells.get(slot) for slot in slots]
    field = COLOURINGS[colouring][1]
    if colouring.startswith("paper"):
        x = unit_scale([c and c[field] for c in found])
        y = unit_scale([c and c["norm"] for c in found])
        flat = [None if c is None else phase_colour(xv or 0.0, yv or 0.0)
                for c, xv, yv in zip(found, x, y, strict=True)]
    else:
        t = unit_scale([c and c[field] for c in found])
        flat = [None if v is None else sequential(v) for v in t]
    rows = [flat[r * len(xs):(r + 1) * len(xs)] for r in range(len(ys))]
    by_slot = {(i % len(xs), i // len(xs)): c for i, c in enumerate(found)}
    return rows, by_slot


def legend(colouring: str, grids: list) -> str:
    if colouring.startswith("paper"):
        return ("[on #ffffff]  [/] not represented  [on #0000ff]  [/] monosemantic  "
                "[on #ff0000]  [/] superposition   "
                f"[dim]({COLOURINGS[colouring][0]}, each scaled to [0,1] per grid)[/]")
    return (f"[on {sequential(0)}]  [/][on {sequential(0.5)}]  [/][on {sequential(1)}]  [/] "
            f"low → high {COLOURINGS[colouring][0]} [dim](scaled per grid)[/]")


class PhaseScreen(LabScreen):
    BINDINGS = [
        Binding("v", "next_colouring", "colour by"),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self):
        super().__init__()
        self.experiment: int | None = None
        self.colouring = "paper"
        self.grids: list[dict] = []  # one per setup
        self.slots: dict[str, dict] = {}  # grid widget id -> {(col,row): cell}
        self.widgets: dict[str, CellGrid] = {}  # mounting is asynchronous: keep references

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="phase-top"):
            yield Select([], id="experiment", prompt="experiment")
            yield Select([(v[0], k) for k, v in COLOURINGS.items()], value=self.colouring,
                         allow_blank=False, id="colouring")
        yield Static("", id="legend")
        yield VerticalScroll(id="phase-grids")
        yield Static("", id="cell-info")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.app.current_experiment not in (None, self.experiment):
            self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        def work():
            ids = set(self.lab.read("phase_experiments"))
            return [e for e in self.lab.read("experiments_panel") if e["experiment_id"] in ids]
        fetch(self, "experiments", work)

    def on_data_changed(self, message: DataChanged) -> None:
        self.reload()

    def load(self, experiment: int) -> None:
        self.experiment = experiment

        def work():
            setups = self.lab.read("phase_setups", experiment_id=experiment)
            return [self.lab.read("phase_grid", experiment_id=experiment,
                                  n_features=s["n_features"], d_hidden=s["d_hidden"],
                                  n_experts=s["n_experts"]) | {"setup": s} for s in setups]
        fetch(self, "grids", work)

    def on_fetched(self, message: Fetched) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        if message.key == "experiments":
            exps = message.value
            choice = pickers.pick_default(exps, self.app.current_experiment, ("fig4",))
            pickers.fill(self.query_one("#experiment", Select), exps, choice)
            if choice is not None:
                self.load(choice)
            else:
                self.show_grids([])
        elif message.key == "grids":
            self.show_grids(message.value)

    def show_grids(self, grids: list[dict]) -> None:
        same_layout = bool(self.widgets) and [g["setup"] for g in grids] == [
            g["setup"] for g in self.grids]
        self.grids = grids
        if same_layout:  # new results in the same grids: repaint, mounting costs frames
            self.paint()
            return
        self.widgets = {}
        rows = []
        for gi, grid in enumerate(grids):
            s = grid["setup"]
            widgets = [CellGrid(setup_label(s["n_features"], s["d_hidden"], s["n_experts"], e),
                                id=f"grid-{gi}-{e}") for e in range(s["n_experts"])]
            self.widgets.update({w.id: w for w in widgets})
            rows.append(Horizontal(*widgets, classes="phase-row"))
        if grids:
            self.paint()
        else:
            self.query_one("#legend", Static).update("")
            rows = [Static("No sweep over data.sparsity × data.last_importance in this "
                           "experiment. Queue fig4 (2 → preset fig4) to make one.")]
        # exclusive: a newer layout cancels a mount still under way, and starts by clearing
        self.run_worker(self._mount_rows(rows), group="mount-grids", exclusive=True)

    async def _mount_rows(self, rows) -> None:
        """One row of grids per frame: mounting all of them at once held the UI thread for
        up to 90 ms on 2 cores."""
        box = self.query_one("#phase-grids", VerticalScroll)
        await box.remove_children()
        for i, row in enumerate(rows):
            await box.mount(row)
            if i == 0 and "grid-0-0" in self.widgets:
                self.widgets["grid-0-0"].focus()
            await asyncio.sleep(1 / 60)

    def paint(self) -> None:
        self.query_one("#legend", Static).update(legend(self.colouring, self.grids))
        for gi, grid in enumerate(self.grids):
            xs, ys = grid["sparsity"], grid["last_importance"]
            for e in range(grid["setup"]["n_experts"]):
                rows, slots = grid_colours(grid, e, self.colouring)
                self.slots[f"grid-{gi}-{e}"] = slots
                widget = self.widgets[f"grid-{gi}-{e}"]
                y_ticks = [num(v, 3) if i in (0, len(ys) - 1, len(ys) // 2) else ""
                           for i, v in enumerate(reversed(ys))]
                widget.set_data(rows, y_ticks, [num(xs[0], 3), num(xs[-1], 3)],
                                "sparsity →", "I_last")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "colouring":
            self.colouring = str(event.value)
            self.paint()
        elif event.select.id == "experiment" and event.value != Select.BLANK:
            self.app.current_experiment = int(event.value)
            self.load(int(event.value))

    def action_next_colouring(self) -> None:
        names = list(COLOURINGS)
        self.query_one("#colouring", Select).value = names[
            (names.index(self.colouring) + 1) % len(names)]

    def cell_at(self, grid_id: str, col: int, row: int) -> dict | None:
        return self.slots.get(grid_id, {}).get((col, row))

    def on_cell_grid_moved(self, message: CellGrid.Moved) -> None:
        if not message.grid.has_focus:  # repainting moves every grid's cursor
            return
        cell = self.cell_at(message.grid.id, message.col, message.row)
        info = self.query_one("#cell-info", Static)
        if cell is None:
            info.update(f"{message.grid.title}: no run here")
            return
        info.update(
            f"[b]{message.grid.title}[/b]  sparsity {num(cell['sparsity'])}  "
            f"I_last {num(cell['last_importance'])}  │ norm {num(cell['norm'])}  "
            f"superposition {num(cell['superposition'])} (all j {num(cell['superposition_all'])})"
            f"  dim {num(cell['dimensionality'])}  loss {num(cell['eval_loss'])}  "
            f"run {cell['run_id']}  [dim]Enter opens it[/]")

    def on_cell_grid_chosen(self, message: CellGrid.Chosen) -> None:
        cell = self.cell_at(message.grid.id, message.col, message.row)
        if cell is not None:
            self.app.open_run(cell["run_id"])

    def figure_request(self):
        if self.experiment is None:
            return None
        metric = "superposition" if self.colouring == "paper" else "superposition_all"
        return ("phase-diagram", self.experiment, {"metric": metric})
