"""Phase diagram: one grid per expert for a sweep over sparsity × last-feature importance,
laid out as the paper's figure (x = importance, y = sparsity), coloured by SPEC's formula or
one metric, cells as large as the terminal allows (see tui/phase_model.py)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer
from textual.widgets import Select, Static

from .. import phase_layers as pl
from .. import phase_model as pm
from ..colours import phase_colour, sequential
from ..fetch import Fetched, fetch
from ..format import num
from ..scales import bar_text, key_text
from ..widgets.cell_grid import CellGrid, fit_level
from ..widgets.key_bar import KeyBar
from . import pickers
from .base import LabScreen
from .phase_controls import BINDINGS as CONTROL_KEYS
from .phase_controls import PhaseControls, layer_asks

FRESH_LAYERS = (None, None, None)  # layer_request() of a view just opened
FIRST_COLOURING = "paper"
CHROME_LINES = 14  # header, tab bar, pickers, title, legend, stability, cell info, footer
MOST_LEVEL = 8  # cells up to 16 × 8 characters: a small grid fills a wide terminal
TALL = 45  # from this many lines the paper colour's legend is its two-dimensional key


def opening_read(lab, current: int | None, request: tuple = FRESH_LAYERS,
                 colouring: str = FIRST_COLOURING):
    """(key, read, aliases) of the view's opening: the experiments with a phase sweep, the
    default one's grids and layers (tui/read_ahead.py makes it ahead, with the defaults of a
    view just opened; the answer stands for the experiment it chose as well)."""
    def work():
        # a sweep queued or running is listed (and chosen) before its first runs are stored
        planned = frozenset(lab.read("phase_planned"))
        ids = set(lab.read("phase_experiments")) | planned
        exps = [e for e in lab.read("experiments_panel") if e["experiment_id"] in ids]
        choice = pickers.pick_default(exps, current, ("fig4",), planned)
        if choice is None:
            return exps, choice, None, None
        return (exps, choice, read_grids(lab, choice, colouring),
                pl.read(lab, choice, *layer_asks(request, choice)))
    return ("phase", current, request, colouring), work, lambda answer: [
        ("phase", answer[1], request, colouring)]


class GridBox(ScrollableContainer):
    """The grids' box: when its size changes (a terminal resized, a title or legend of
    another height), the cells are fitted to the space left."""

    def on_resize(self) -> None:
        refit = getattr(self.screen, "refit", None)
        if refit is not None:
            refit()


def grid_id(setup: tuple, expert: int) -> str:
    return "grid-" + "-".join(map(str, (*setup, expert)))


def _row(key: tuple, setup: dict) -> tuple[Horizontal, list[CellGrid]]:
    """A setup's row of grids, one per expert (kept with its grids: a row not mounted yet
    does not list them as children)."""
    grids = [CellGrid(pm.grid_title(setup, e), id=grid_id(key, e))
             for e in range(setup["n_experts"])]
    return Horizontal(*grids, classes="phase-row"), grids


def setup_key(grid: dict) -> tuple:
    """What a grid's widgets stand for (one per expert): its setup, without point counts."""
    s = grid["setup"]
    return s["n_features"], s["d_hidden"], s["n_experts"]


def _setups(grids: list[dict]) -> list[tuple]:
    return [setup_key(g) for g in grids]


def read_grids(lab, experiment: int, colouring: str) -> list[dict]:
    """The grids, with their colours computed here, in the worker."""
    grids = lab.read("phase_grids", experiment_id=experiment)
    pm.prepare(grids, colouring)
    return grids


class PhaseScreen(PhaseControls, LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  arrows move over cells (values below), tab: next grid, Enter opens the run,
  v  next colouring (paper / norm / superposition (j≠i, all j) / dimensionality / loss / each custom
     metric of `moelab metric add`, on one numeric scale)
  , .  earlier / later snapshot step (runs trained with train.snapshots); past the last
     step: the final weights again; the title says which step is shown
  ?  in a cell: an unstable point (at most half its seeds end in the chosen seed's
     last-feature classes); the legend counts them, the line below gives seeds, stability"""
    VIEW = "phase"
    BINDINGS = [
        Binding("v", "next_colouring", "colour by"),
        *CONTROL_KEYS,
        Binding("space", "mark", "mark run"),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self):
        super().__init__()
        self.experiment: int | None = None
        self.experiment_name = ""
        self.asked: int | None = None  # the current experiment at the last reload
        self.wanted: int | None = None  # the experiment the view asked for last
        self.loading: int | None = None  # picked, its grids not here yet
        self.exps: dict[int, dict] = {}  # the picker's experiments, by id
        self.info_grid: str | None = None  # the grid the cursor line describes
        self.colouring = FIRST_COLOURING
        self.grids: list[dict] = []  # one per setup
        self.slots: dict[str, tuple] = {}  # grid id -> (grid, its slots: pm.slots)
        self.widgets: dict[str, CellGrid] = {}  # mounting is asynchronous: keep references
        self.rows: dict[tuple, tuple[Horizontal, list[CellGrid]]] = {}  # per setup shown
        self.drawn: list[dict] = []  # what the grids show, for export
        self.init_layers()

    def compose(self) -> ComposeResult:
        # Its reads start here, while the widgets mount (Textual handles their answer after
        # on_mount: a screen's compose and mount come before its queued messages).
        self.hold_paint()  # drawn once, with its grids (released when they are mounted)
        self.reload()
        yield from self.top_bars()
        with Horizontal(id="phase-top"):
            yield Select([], id="experiment", prompt="experiment")
            yield Select([(v[0], k) for k, v in pm.COLOURINGS.items()], value=self.colouring,
                         allow_blank=False, id="colouring")
        title = Static("", id="phase-title")
        title.styles.max_height = 2  # what the view shows in two lines at most: grids first
        yield title
        yield Static("", id="legend")
        yield GridBox(id="phase-grids")
        yield Static("", id="cell-info")
        yield KeyBar()

    def on_screen_resume(self) -> None:
        # Textual resumes a new screen twice after its mount: reload only for an experiment
        # chosen elsewhere since (each reload read everything again, on the user's wait).
        if self.app.current_experiment not in (None, self.experiment, self.asked):
            self.reload(self.app.current_experiment)


    def reload(self, prefer: int | None = None) -> None:
        """The experiments with a phase sweep, and the grids of the one on show (else the
        app's current one, else a default) in the same worker (one round trip fewer before
        the grids show), or read ahead."""
        self.asked = self.app.current_experiment
        want = next((e for e in (prefer, self.wanted, self.asked) if e is not None), None)
        key, work, _ = opening_read(self.lab, want, self.layer_request(), self.colouring)
        self.app.read_ahead.fetch(self, "experiments", key, work)


    def load(self, experiment: int) -> None:
        """The grids and their layers in one worker: the diagram is painted once."""
        self.wanted = self.loading = experiment
        request, colouring = self.layer_request(), self.colouring
        fetch(self, "grids", lambda: (read_grids(self.lab, experiment, colouring),
                                      self.read_layers(experiment, request)))

    def on_fetched(self, message: Fetched) -> None:
        if message.error:
            self.release_paint()
            self.notify(message.error, severity="error")
            return
        if message.key == "experiments":
            exps, choice, grids, layers = message.value
            self.exps = {e["experiment_id"]: e for e in exps}
            if self.loading not in (None, choice):  # read before the user picked another
                pickers.fill(self.query_one("#experiment", Select), exps, self.loading)
                return
            pickers.fill(self.query_one("#experiment", Select), exps, choice)
            self.show_experiment(choice, grids or [], layers)
        elif message.key == "grids":
            grids, layers = message.value
            if layers["experiment"] == self.wanted:
                self.loading = None
                self.show_experiment(layers["experiment"], grids, layers)
        else:
            self.layer_fetched(message)

    def show_experiment(self, experiment: int | None, grids: list[dict],
                        layers: dict | None) -> None:
        """Everything the view says, of one experiment at once: its name and state, grids,
        layers (what is on screen and its export never mix two experiments)."""
        self.experiment = self.wanted = experiment
        self.experiment_name = (self.exps.get(experiment) or {}).get("name", "")
        if layers is not None:
            self.take_layers(layers)
        self.show_grids(grids)

    def experiment_state(self) -> str:
        """The shown experiment's status and stored runs: "running, 120/400 runs"."""
        return pickers.state(self.exps.get(self.experiment))

    # -- layout ----------------------------------------------------------------------------
    def fit(self) -> int:
        """The largest cell size at which a row of grids fits the grids' box: its width,
        and its height (the box, measured: what the title and legend leave). Two rows per
        screen kept 5 × 5 grids at 4 × 2 characters a cell on 160 × 45, 40 columns of 160."""
        if not self.grids:
            return 1
        per_row = max(g["setup"]["n_experts"] for g in self.grids)
        n_cols = max(len(g["last_importance"]) for g in self.grids)
        n_rows = max(len(g["sparsity"]) for g in self.grids)
        width, height = self.query_one("#phase-grids").size
        if width < 20 or height < 6:  # not laid out yet: an estimate, refitted once it is
            width, height = self.size.width, self.size.height - CHROME_LINES
        width = max(width - 2, 20) - 2 * per_row  # a vertical scrollbar, the grids' gaps
        # a grid's least width: its caption (the paper colour's maxima) or title
        least = max((len(w.caption or "") + 2 for w in self.widgets.values()), default=0)
        least = least if least * per_row <= width else 0  # too wide at any size: no help
        # title, axis, ticks, x title, caption and the gap below a row: 6 lines
        return fit_level(n_cols, n_rows, width, max(height, 6) - 2, label_width=8,
                         per_row=per_row, most=MOST_LEVEL, min_width=least)

    def refit(self) -> None:
        level = self.fit()
        for w in self.widgets.values():
            w.level = level

    def show_grids(self, grids: list[dict]) -> None:
        grids = self.layered(grids)  # final grids as read, with stability, step, metric
        # The same setups (a sweep filling in): repaint the grids in place. Mounting them
        # again (their point counts changed) restyled and laid out the whole view, a 50-120 ms
        # stall per stored unit while training.
        same_layout = bool(self.widgets) and _setups(grids) == _setups(self.grids)
        self.grids = grids
        if same_layout:
            self.paint()
            self.refit()  # after paint: a grid's caption is part of its width
            return
        # A row of grids per setup; a setup already shown keeps its row (a sweep's setups
        # appear one by one while it trains: mounting every row again stalled the UI).
        rows = {}
        for grid in grids:
            key = setup_key(grid)
            rows[key] = self.rows.get(key) or _row(key, grid["setup"])
        self.rows = rows
        self.widgets = {w.id: w for _, row_grids in rows.values() for w in row_grids}
        if grids:
            self.paint()
            self.refit()
        else:
            self.drawn = []
            self.query_one("#legend", Static).update("")
            self.query_one("#phase-title", Static).update("" if self.experiment is None else (
                pl.title(self.experiment, self.experiment_name, self.shown_layers(),
                         self.experiment_state())))
            self.query_one("#cell-info", Static).update("")
        # exclusive: a newer layout cancels a mount still under way
        self.run_worker(self._mount_rows([row for row, _ in rows.values()], self.empty_text()),
                        group="mount-grids", exclusive=True)

    def empty_text(self) -> str:
        """What the view says where it has no grid to draw."""
        e = self.exps.get(self.experiment)
        if e is None:
            return ("No sweep over data.sparsity × data.last_importance in this lab yet. "
                    "Queue fig4 (2 → preset fig4) to make one.")
        if e["status"] in ("queued", "running"):
            return (f"Experiment {self.experiment} is {e['status']} ({pickers.state(e)}): its "
                    "phase diagram fills in here as its units are stored (each setup once "
                    "it has two sparsities and two importances).")
        return (f"Experiment {self.experiment} has no setup swept over both data.sparsity and "
                "data.last_importance.")

    async def _mount_rows(self, rows: list[Horizontal], empty: str = "") -> None:
        """The rows of grids, painted already, in one layout and one frame: rows no longer
        shown go, new ones are mounted in their place, the others stay."""
        box = self.query_one("#phase-grids", ScrollableContainer)
        keep = {id(row) for row in rows}
        with self.app.batch_update():
            await box.remove_children([c for c in box.children if id(c) not in keep])
            if not rows:
                await box.mount(Static(empty, classes="phase-empty"))
            if not any(row.parent is box for row in rows):  # all new: one mount
                await box.mount_all(rows)
            else:  # each new row after the one before it, placed now, awaited together
                mounts, before = [], None
                for row in rows:
                    if row.parent is None:
                        mounts.append(box.mount(row, after=before) if before is not None
                                      else box.mount(row, before=0))
                    before = row
                for mounted in mounts:
                    await mounted
        if self.widgets and not isinstance(self.focused, CellGrid):
            next(iter(self.widgets.values())).focus()
        self.release_paint()

    def on_resize(self) -> None:
        self.refit()

    # -- colours ---------------------------------------------------------------------------
    def paint(self) -> None:
        lo, hi = pm.metric_range(self.grids, self.colouring)
        self.query_one("#legend", Static).update(self.show_title(self.legend(lo, hi)))
        marked = self.app.marked
        self.drawn = []
        for gi, grid in enumerate(self.grids):
            y_ticks, x_ticks = pm.axes(grid)
            for e in range(grid["setup"]["n_experts"]):
                slot = pm.slots(grid, e)
                colours, caption = pm.painted(grid, e, self.colouring, lo, hi)
                widget = self.widgets[grid_id(setup_key(grid), e)]
                self.slots[widget.id] = (grid, slot)
                widget.marked = pm.where(slot, grid, marked)
                widget.flagged = self.flags(grid, slot)
                widget.set_data(colours, y_ticks, x_ticks, pm.X_TITLE, pm.Y_TITLE, caption)
                self.drawn.append({"title": widget.title, "colours": colours, "row": gi,
                                   "y_ticks": y_ticks, "x_ticks": x_ticks,
                                   "caption": caption, "marks": widget.flagged})
        # the values under the cursor changed too (another experiment's, or more runs)
        if isinstance(self.focused, CellGrid):
            self.focused.post_message(CellGrid.Moved(self.focused, *self.focused.cursor))
        else:  # the focus on a picker: the line still describes the grid it last did
            grid = self.widgets.get(self.info_grid or "")
            if grid is None:
                self.query_one("#cell-info", Static).update("")
            else:
                self.describe(grid, *grid.cursor)

    def legend(self, lo, hi):
        label = pm.colouring_info(self.colouring)[0]
        if pm.is_paper(self.colouring) and self.size.height < TALL:
            return Text.from_markup(
                f"[on #ffffff]  [/] not represented  [on #0000ff]  [/] monosemantic  "
                f"[on #ff0000]  [/] superposition   [dim]{label}; norm and superposition ÷ "
                "their maxima per grid (under it)[/]")
        if pm.is_paper(self.colouring):
            notes = [f"[b]{label}[/b]",
                     "[dim]white: not represented · blue: monosemantic · red: superposition[/]",
                     "[dim]norm and superposition ÷ their maxima over each grid (under it)[/]"]
            return key_text(phase_colour, "superposition ÷ max →", "norm ÷ max ↑", notes, n=3)
        return bar_text(sequential, lo, hi, label).append(
            "  (one scale for every grid)", style="dim")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "colouring":
            self.colouring = str(event.value)
            self.need_metric()
            self.paint()
        elif event.select.id == "experiment" and event.value != Select.BLANK:
            self.app.current_experiment = int(event.value)
            self.load(int(event.value))

    def action_next_colouring(self) -> None:
        names = self.colouring_names()
        self.query_one("#colouring", Select).value = names[
            (names.index(self.colouring) + 1) % len(names)]

    # -- cursor ----------------------------------------------------------------------------
    def cell_at(self, grid_id: str, col: int, row: int) -> dict | None:
        """The cell in a slot, as a dict (the grids keep columns)."""
        if grid_id not in self.slots:
            return None
        grid, slot = self.slots[grid_id]
        if row >= slot.shape[0] or col >= slot.shape[1] or slot[row, col] < 0:
            return None
        return pm.cell(grid, int(slot[row, col]))

    def on_cell_grid_moved(self, message: CellGrid.Moved) -> None:
        if not message.grid.has_focus:  # repainting moves every grid's cursor
            return
        self.describe(message.grid, message.col, message.row)

    def describe(self, grid: CellGrid, col: int, row: int) -> None:
        """The cursor line: the cell at (col, row) of a grid, of the experiment shown."""
        self.info_grid = grid.id
        cell = self.cell_at(grid.id, col, row)
        info = self.query_one("#cell-info", Static)
        if cell is None:
            info.update(f"{grid.title}: no run here")
            return
        info.update(
            f"[b]{grid.title}[/b]  sparsity {num(cell['sparsity'])}  "
            f"I_last {num(cell['last_importance'])}  │ norm {num(cell['norm'])}  "
            f"superposition {num(cell['superposition'])} (all j {num(cell['superposition_all'])})"
            f"  dim {num(cell['dimensionality'])}  loss {num(cell['eval_loss'])}  "
            f"run {cell['run_id']}" + pl.cell_line(cell, self.colouring, self.shown_layers()))

    def on_cell_grid_chosen(self, message: CellGrid.Chosen) -> None:
        cell = self.cell_at(message.grid.id, message.col, message.row)
        if cell is not None:
            self.app.open_run(cell["run_id"])

    def action_mark(self) -> None:
        grid = self.focused
        if isinstance(grid, CellGrid):
            cell = self.cell_at(grid.id, *grid.cursor)
            if cell is not None:
                self.app.toggle_mark(cell["run_id"])

    def marks_changed(self) -> None:
        super().marks_changed()
        if self.grids:
            self.paint()

    def figure_name(self) -> str:
        step = "" if self.overlay.step is None else f"-step{self.overlay.step}"
        return f"phase-{self.experiment}-{self.colouring.replace(':', '-')}{step}"

    def figure_spec(self):
        if not self.drawn:
            return None
        lo, hi = pm.metric_range(self.grids, self.colouring)
        note = "" if not any(d["marks"] for d in self.drawn) else (
            f"\n× = unstable point (at most {pl.UNSTABLE:.0%} of its seeds match the chosen one)")
        return pm.figure_spec(f"phase diagrams: {self.plain_title()}{note}", self.colouring,
                              self.drawn, lo, hi)
