"""Experts: the paper's Table 1 per model setup (shape, gating, router init) and expert,
its usages under both definitions (training data; dense inputs, the authors'), features per
dimension against sparsity (the paper's Fig. 3), one colour per setup, and the MoE Lens
panel (experts_lens.py).

Experts are numbered from 0, as in the views and the CLI. Averages never mix setups: an
experiment like fig4 holds several, and their experts are not the same experts.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static

from ..fetch import Fetched, fetch
from ..format import num
from ..widgets.key_bar import KeyBar
from ..widgets.plot import Plot
from . import pickers
from .base import LabScreen
from .experts_lens import LensPanel
from .experts_lm import LMLensPanel

# Table 1's usages under both definitions, labelled as in REPORT.md and the usage-table
# export (moelab/figures/usage.py MARKDOWN_HEADER): "train" = on the run's own training
# inputs (moelab's), "dense, authors'" = every feature active (the authors' definition).
USAGE_COLUMNS = ("usage", "usage_when_mono_active", "usage_when_only_mono_active",
                 "usage_dense", "usage_dense_mono_active", "usage_dense_only_mono")
USAGE_LABELS = ("mean usage % (train)", "active % (train)", "only active % (train)",
                "mean usage % (dense, authors')", "clamped to 1 % (dense, authors')",
                "only active % (dense, authors')")
TABLE1_COLUMNS = ("setup", "router init", "expert", "models", "mono. features", *USAGE_LABELS)
TABLE1_NOTE = ("[b]Table 1[/b] per setup and expert (from 0), means over the chosen MoE runs"
               " · [b](train)[/b]: on the run's own training inputs · [b](dense, authors')[/b]:"
               " every feature active, 'clamped to 1' = the expert's monosemantic features at"
               " 1.0")
# One colour per series, never reused within a plot (plotext's RGB tuples).
SERIES_COLOURS = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167),
                  (86, 180, 233), (213, 94, 0), (240, 228, 66), (153, 153, 153),
                  (136, 34, 85), (68, 170, 153), (255, 255, 255), (120, 60, 200)]


def pct(v) -> str:
    return "∅" if v is None else f"{v * 100:.1f}"


def header(label: str) -> str:
    """A column label on two lines: "mean usage %" over "(train)", "router" over "init"."""
    return label.replace(" (", "\n(", 1) if " (" in label else label.replace(" ", "\n", 1)


def usages(row: dict) -> list[str]:
    """Table 1's usage cells, training data then the authors' dense inputs (None: "∅")."""
    return [pct(row.get(c)) for c in USAGE_COLUMNS]


def setup_name(row: dict) -> str:
    """A setup as the plot's legend and Table 1 name it, n included (n = 2 and n = 3 with
    the same E, k and m are different models)."""
    if row["kind"] == "dense":
        return f"n={row['n_features']} dense m={row['d_hidden']}"
    return f"n={row['n_features']} E={row['n_experts']} k={row['k']} m={row['d_hidden']}"


def table_setup(row: dict) -> str:
    return setup_name(row) + (
        f" {row['gating']}" if row.get("gating") not in (None, "renorm") else "")


def series(curves: list[dict], metric: str) -> dict[str, list[tuple[float, float]]]:
    """Per setup, its points; only setups with a curve (two sparsities or more)."""
    out: dict[str, list] = {}
    for row in curves:
        if row[metric] is not None:
            out.setdefault(setup_name(row), []).append((row["sparsity"], row[metric]))
    return {k: v for k, v in out.items() if len(v) > 1}


def no_curve_note(curves: list[dict], metric: str, label: str) -> str:
    """Why no curve is drawn: one sparsity per setup, or values that were never stored (an
    import of the authors' files: weights only, no router, no evaluation)."""
    points: dict[str, int] = {}
    for row in curves:
        points[setup_name(row)] = points.get(setup_name(row), 0) + 1
    if max(points.values(), default=0) < 2:
        return (f"{label} against sparsity needs two sparsities or more; this experiment has "
                "one (fig3 and tms-classic sweep it).")
    if any(row.get("n_imported") for row in curves):
        why = ("needs each expert's usage, and the authors' files hold no routers" if
               metric == "fpd" else "was not stored: the authors' files hold each cell's "
               "final training loss, not an evaluation loss")
        return (f"No {label} for this experiment: it was imported from the authors' files "
                f"and {label} {why} (l switches).")
    return f"No {label} stored for this experiment's runs (l switches)."


def colour_of(i: int) -> tuple[int, int, int]:
    return SERIES_COLOURS[i % len(SERIES_COLOURS)]


def hex_colour(i: int) -> str:
    r, g, b = colour_of(i)
    return f"#{r:02x}{g:02x}{b:02x}"


def opening_read(lab, current: int | None):
    """(key, read, aliases) of the view's opening: the experiments and the default one's
    Table 1 and curves (tui/read_ahead.py makes it ahead for a view not yet open; the answer
    stands for the experiment it chose as well)."""
    def work():
        exps = lab.read("experiments_panel")
        choice = pickers.pick_default(exps, current, ("table1", "fig3", "fig6-init", "fig1-2"))
        return exps, choice, (None if choice is None else read_data(lab, choice))
    return ("experts", current), work, lambda answer: [("experts", answer[1])]


def read_data(lab, experiment: int) -> tuple[list[dict], list[dict]]:
    return (lab.read("table1_by_setup", experiment_id=experiment),
            lab.read("fpd_by_setup", experiment_id=experiment))


class ExpertsScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  l  features per dimension ↔ loss against sparsity
  [ ]  MoE Lens of the previous / next run (it becomes the current run: 4 opens it)"""
    VIEW = "experts"
    BINDINGS = [Binding("l", "toggle_metric", "fpd / loss"), Binding("r", "reload", "reload"),
                Binding("left_square_bracket", "lens_step(-1)", "previous lens run", show=False),
                Binding("right_square_bracket", "lens_step(1)", "next lens run")]

    def __init__(self):
        super().__init__()
        self.experiment: int | None = None
        self.asked: int | None = None  # the current experiment at the last reload
        self.metric = "fpd"
        self.curves: list[dict] = []
        self.table1: list[dict] = []

    def compose(self) -> ComposeResult:
        # Its reads start here, while the widgets mount (Textual handles their answer after
        # on_mount: a screen's compose and mount come before its queued messages).
        self.hold_paint()  # drawn once, with Table 1
        self.reload()
        yield from self.top_bars()
        with Horizontal(id="experts-top"):
            yield Select([], id="experiment", prompt="experiment")
        yield Static(TABLE1_NOTE, id="t1-title")
        yield DataTable(id="table1", zebra_stripes=True, header_height=2)
        with Horizontal(id="experts-bottom"):
            with Vertical(id="fpd-box"):
                yield Static("", id="fpd-note")
                yield Plot(id="fpd-plot")
            yield LensPanel(id="lens")
            yield LMLensPanel(id="lmlens")  # instead, for an lm experiment
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#table1", DataTable)
        for c in TABLE1_COLUMNS:  # two-line headers: "(train)" / "(dense, authors')" below
            table.add_column(header(c), key=c)

    def on_screen_resume(self) -> None:
        # Textual resumes a new screen twice after its mount: reload only for an experiment
        # chosen elsewhere since (each reload read everything again, on the user's wait).
        if self.app.current_experiment not in (None, self.experiment, self.asked):
            self.reload(self.app.current_experiment)



    def reload(self, prefer: int | None = None) -> None:
        """The experiments, and the data of the one on show (else the app's current one,
        else a default) in the same worker (one round trip and one frame fewer before
        Table 1 shows), or read ahead."""
        self.asked = self.app.current_experiment
        want = next((e for e in (prefer, self.experiment, self.asked) if e is not None), None)
        key, work, _ = opening_read(self.lab, want)
        self.app.read_ahead.fetch(self, "experiments", key, work)

    def load(self, experiment: int) -> None:
        self.experiment = experiment
        fetch(self, "data", lambda: read_data(self.lab, experiment))
        self.show_lens(experiment)  # after Table 1: it asks next

    def on_fetched(self, message: Fetched) -> None:
        self.release_paint()  # the next frame draws what this handler shows
        if message.error:
            self.notify(message.error, severity="error")
            return
        if message.key == "experiments":
            exps, choice, data = message.value
            pickers.fill(self.query_one("#experiment", Select), exps, choice)
            if choice is not None:
                self.experiment = choice
                self.show_data(data)
                self.show_lens(choice)
        elif message.key == "data":
            self.show_data(message.value)

    def show_data(self, data: tuple[list[dict], list[dict]]) -> None:
        self.table1, self.curves = data
        self.show_table1(self.table1)
        self.draw_curves()

    def show_table1(self, rows: list[dict]) -> None:
        table = self.query_one("#table1", DataTable)
        table.clear()
        for r in rows:
            expert = "[b]all[/b]" if r["expert"] is None else str(r["expert"])
            table.add_row(table_setup(r), r["router_init"], expert, r["n_models"],
                          num(r["n_monosemantic"], 3), *usages(r))
        if not rows:
            table.add_row("no MoE runs in this experiment", *[""] * (len(TABLE1_COLUMNS) - 1))

    def draw_curves(self) -> None:
        plot = self.query_one("#fpd-plot", Plot)
        note = self.query_one("#fpd-note", Static)
        label = "features per dimension" if self.metric == "fpd" else "evaluation loss"
        lines = series(self.curves, self.metric)
        if not lines:  # one sparsity (table1, fig5), or no values: say why instead
            plot.display = False
            note.update(f"[dim]{no_curve_note(self.curves, self.metric, label)}[/]")
            return
        plot.display = True
        note.update("")
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"{label} vs sparsity (l switches)")
        plt.xlabel("sparsity")
        for i, (name, pts) in enumerate(lines.items()):
            plt.plot([p[0] for p in pts], [p[1] for p in pts], label=name, marker="braille",
                     color=colour_of(i))
        plot.replot()

    def show_lens(self, experiment: int) -> None:
        """Both lens panels ask; the lm one shows itself (and hides the toy one) when the
        experiment holds language models."""
        self.query_one(LensPanel).show_experiment(experiment)
        self.query_one(LMLensPanel).show_experiment(experiment)

    def action_lens_step(self, delta: int) -> None:
        lm = self.query_one(LMLensPanel)
        (lm if lm.active else self.query_one(LensPanel)).step(delta)

    def action_toggle_metric(self) -> None:
        self.metric = "eval_loss" if self.metric == "fpd" else "fpd"
        self.draw_curves()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "experiment" and event.value != Select.BLANK:
            self.app.current_experiment = int(event.value)
            self.load(int(event.value))

    def figure_name(self) -> str:
        return f"experts-{self.experiment}-{self.metric}"

    def figure_spec(self):
        if self.experiment is None:
            return None
        panels = [{"type": "table", "title": "Table 1 per setup and expert (from 0)",
                   "columns": list(TABLE1_COLUMNS), "row": 0,
                   "rows": [[table_setup(r), r["router_init"],
                             "all" if r["expert"] is None else str(r["expert"]),
                             str(r["n_models"]), num(r["n_monosemantic"], 3), *usages(r)]
                            for r in self.table1]}]
        lines = series(self.curves, self.metric)
        if lines:
            label = "features per dimension" if self.metric == "fpd" else "evaluation loss"
            panels.append({"type": "lines", "title": f"{label} vs sparsity", "row": 1,
                           "x_label": "sparsity", "y_label": label,
                           "series": [{"label": name, "colour": hex_colour(i),
                                       "x": [p[0] for p in pts], "y": [p[1] for p in pts]}
                                      for i, (name, pts) in enumerate(lines.items())]})
        lens = self.query_one(LensPanel).figure_table()
        if lens is not None:
            panels.append({**lens, "row": 2})
        panels += [{**t, "row": 2 + i} for i, t in
                   enumerate(self.query_one(LMLensPanel).figure_tables())]
        return {"title": f"experiment {self.experiment}", "panels": panels}
