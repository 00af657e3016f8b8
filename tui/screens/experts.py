"""Experts: the paper's Table 1 (grouped by router init) and features per dimension
against sparsity (the paper's Fig. 3)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual_plotext import PlotextPlot

from ..fetch import Fetched, fetch
from ..format import num
from ..messages import DataChanged
from . import pickers
from .base import LabScreen

TABLE1_COLUMNS = ("router init", "expert", "models", "monosemantic", "usage %",
                  "usage % | mono active", "usage % | only mono active")


def pct(v) -> str:
    return "∅" if v is None else f"{v * 100:.1f}"


def setup_name(row: dict) -> str:
    if row["kind"] == "dense":
        return f"dense m={row['d_hidden']}"
    return f"E={row['n_experts']} k={row['k']} m={row['d_hidden']}"


class ExpertsScreen(LabScreen):
    BINDINGS = [Binding("l", "toggle_metric", "fpd / loss"), Binding("r", "reload", "reload")]

    def __init__(self):
        super().__init__()
        self.experiment: int | None = None
        self.metric = "fpd"
        self.curves: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="experts-top"):
            yield Select([], id="experiment", prompt="experiment")
        yield Static("[b]Table 1[/b] per expert, means over the chosen MoE runs", id="t1-title")
        yield DataTable(id="table1", zebra_stripes=True)
        yield PlotextPlot(id="fpd-plot")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#table1", DataTable)
        for c in TABLE1_COLUMNS:
            table.add_column(c)
        self.reload()

    def on_screen_resume(self) -> None:
        if self.app.current_experiment not in (None, self.experiment):
            self.reload()

    def on_data_changed(self, message: DataChanged) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        fetch(self, "experiments", lambda: self.lab.read("experiments_panel"))

    def load(self, experiment: int) -> None:
        self.experiment = experiment
        fetch(self, "data", lambda: (self.lab.read("table1", experiment_id=experiment),
                                     self.lab.read("fpd_curves", experiment_id=experiment)))

    def on_fetched(self, message: Fetched) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        if message.key == "experiments":
            choice = pickers.pick_default(message.value, self.app.current_experiment,
                                          ("table1", "fig3", "fig6-init", "fig1-2"))
            pickers.fill(self.query_one("#experiment", Select), message.value, choice)
            if choice is not None:
                self.load(choice)
        elif message.key == "data":
            table1, self.curves = message.value
            self.show_table1(table1)
            self.draw_curves()

    def show_table1(self, rows: list[dict]) -> None:
        table = self.query_one("#table1", DataTable)
        table.clear()
        for r in rows:
            expert = "[b]all[/b]" if r["expert"] is None else str(r["expert"] + 1)
            table.add_row(r["router_init"], expert, r["n_models"],
                          num(r["n_monosemantic"], 3), pct(r["usage"]),
                          pct(r["usage_when_mono_active"]),
                          pct(r["usage_when_only_mono_active"]))
        if not rows:
            table.add_row("no MoE runs in this experiment", "", "", "", "", "", "")

    def draw_curves(self) -> None:
        plot = self.query_one("#fpd-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        label = "features per dimension" if self.metric == "fpd" else "evaluation loss"
        plt.title(f"{label} vs sparsity (l switches)")
        plt.xlabel("sparsity")
        series: dict[str, list] = {}
        for row in self.curves:
            series.setdefault(setup_name(row), []).append(row)
        for name, rows in series.items():
            pts = [(r["sparsity"], r[self.metric]) for r in rows if r[self.metric] is not None]
            if len(pts) > 1:
                plt.plot([p[0] for p in pts], [p[1] for p in pts], label=name, marker="braille")
        plot.refresh()

    def action_toggle_metric(self) -> None:
        self.metric = "eval_loss" if self.metric == "fpd" else "fpd"
        self.draw_curves()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "experiment" and event.value != Select.BLANK:
            self.app.current_experiment = int(event.value)
            self.load(int(event.value))

    def figure_request(self):
        if self.experiment is None:
            return None
        if self.metric == "fpd":
            return ("fpd-vs-sparsity", self.experiment, {})
        return ("loss-vs-sparsity", self.experiment, {"metric": "eval_loss"})
