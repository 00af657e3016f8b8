"""Runs: experiments with live status and progress, and their runs under a SQL filter, with
columns of the user's choosing, saved views, and runs marked (space) for comparison."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Sparkline, Static

from ..fetch import Fetched, fetch
from ..format import bar, running_line
from ..history import History
from ..messages import LabStatus
from ..runs_view import EXPERIMENT_COLUMNS, RunsView, experiment_rows, status_markup
from ..settings import Named
from ..widgets.key_bar import KeyBar
from ..widgets.virtual_table import VirtualTable
from .base import LabScreen
from .prompts import Confirm
from .runs_columns import RunsColumns

WELCOME = """[b]Welcome to moelab.[/b]

This database has no experiments yet. Press [b reverse] space [/] to queue the paper's
phase diagrams in their quick form ([i]fig4 --quick[/i]): 400 small models that train in about
a minute, then press [b]3[/b] to see the phase diagram fill in.

Or press [b]2[/b] to pick another preset, [b]?[/b] for every key, [b]ctrl+p[/b] for the commands."""


class RunsScreen(RunsColumns, LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  /  filter runs with SQL over the runs view (Enter applies, ↑↓ recent filters)
  Enter on an experiment: show only its runs · a: all runs · Enter on a run: open it
  s  sort by the cursor's column (again: reverse) · h hide it · < > move it
  C  choose and order columns (any runs column, config field, min/max/last of a metric)
  ctrl+s save the view (filter, columns, sort) by name · w open a saved view
  c  cancel a queued/running experiment (asks first) · u unmark every run
  space  (empty database) queue fig4 --quick"""
    VIEW = "runs"
    BINDINGS = [
        Binding("slash", "focus_filter", "filter"),
        Binding("space", "mark", "mark"),
        Binding("C", "choose_columns", "columns"),
        Binding("h", "hide_column", "hide col.", show=False),
        Binding("less_than_sign", "move_column(-1)", "col. left", show=False),
        Binding("greater_than_sign", "move_column(1)", "col. right", show=False),
        Binding("ctrl+s", "save_view", "save view"),
        Binding("w", "open_view", "views"),
        Binding("c", "cancel", "cancel exp."),
        Binding("a", "all_runs", "all runs"),
        Binding("u", "unmark", "unmark all", show=False),
        Binding("r", "reload", "reload", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.history = History("runs_filter")
        self.view = RunsView()
        self.views = Named("views")
        self.scope: int | None = None  # show only this experiment's runs
        self.experiments: list[dict] = []
        self._history_at = -1

    @property
    def where(self) -> str:
        return self.view.where

    @property
    def order_by(self) -> str | None:
        return self.view.order_by

    def compose(self) -> ComposeResult:
        yield from self.top_bars()
        yield Static(WELCOME, id="welcome")
        with Vertical(id="runs-body"):
            yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
            yield Static("", id="live-line")
            yield Sparkline([], id="live-loss")
            yield Input(placeholder="filter: SQL over the runs view, e.g. n_experts = 3 "
                        "and sparsity > 0.9 (Enter applies, ↑↓ recent)",
                        id="filter", suggester=SuggestFromList(self.history.items()))
            yield Static("", id="filter-error")
            yield Static("", id="runs-caption")
            yield VirtualTable(id="runs")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#experiments", DataTable)
        for c in EXPERIMENT_COLUMNS:
            table.add_column(c, key=c)
        self.query_one("#welcome").display = False
        table.focus()
        self.reload()

    def on_screen_resume(self) -> None:
        self.runs_table.set_marks(self.app.marked)
        self.reload()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        fetch(self, "experiments", lambda: self.lab.read("experiments_panel"))
        self.load_runs()

    def load_runs(self, where: str | None = None) -> None:
        where = self.view.where if where is None else where
        params = self.view.params(self._condition(where), 0, self.runs_table.page_size)
        fetch(self, "runs", lambda: (where, self.lab.read("runs_columns_page", **params)))

    def _condition(self, where: str) -> str | None:
        parts = [f"experiment_id = {self.scope}"] if self.scope is not None else []
        if where.strip():
            parts.append(f"({where}\n)")
        return " AND ".join(parts) or None

    @property
    def runs_table(self) -> VirtualTable:
        return self.query_one("#runs", VirtualTable)

    def on_fetched(self, message: Fetched) -> None:
        if message.key == "experiments":
            if message.error:
                self.notify(message.error, severity="error")
            else:
                self.show_experiments(message.value)
        elif message.key == "runs":
            error = self.query_one("#filter-error", Static)
            if message.error:
                # A bad filter says why and leaves the table as it was.
                error.update(f"[red]✗ {message.error}[/]")
                return
            where, page = message.value
            error.update("")
            if where != self.view.where:
                self.view.where = where
                self.history.add(where)
            t = self.runs_table
            t.sort_column, t.sort_descending = self.view.order_by, self.view.descending
            t.marks = set(self.app.marked)
            t.reset(page["columns"], page["total"], page["rows"])
            self._caption(page["total"])
        elif message.key.startswith("runs-page-"):
            if message.value is not None:
                page, rows = message.value
                self.runs_table.set_page(page, rows)
        elif message.key == "choices" and message.value is not None:
            self.show_chooser(message.value)
        elif message.key in ("cancel", "choices"):
            sev = "error" if message.error else "information"
            self.notify(message.error or str(message.value), severity=sev)
            self.reload()

    def _caption(self, total: int) -> None:
        scope = ""
        if self.scope is not None:
            name = next((e["name"] for e in self.experiments
                         if e["experiment_id"] == self.scope), "")
            scope = f"experiment {self.scope} {escape(name)} · "
        v = self.view
        sort = f"sorted by {v.order_by}{' desc' if v.descending else ''}" if v.order_by \
            else "unsorted"
        cond = f" where {escape(v.where)}" if v.where else ""
        self.query_one("#runs-caption", Static).update(
            f"[b]{total}[/b] runs · {scope}{sort}{cond}   [dim](Enter opens · s sorts · "
            "h hides · < > move · C columns)[/]")  # the key bar has space, w, /

    def show_experiments(self, experiments: list[dict]) -> None:
        self.experiments = experiments
        empty = not experiments
        self.query_one("#welcome").display = empty
        self.query_one("#runs-body").display = not empty
        table = self.query_one("#experiments", DataTable)
        selected = self.selected_experiment()
        table.clear()
        # Long names are cut to the width (Enter on the experiment names it in full).
        for row in experiment_rows(experiments, self.app.running or {},
                                   self.size.width or self.app.size.width):
            table.add_row(*row, key=str(row[0]))
        if selected is not None and str(selected) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected)))
        if empty:
            self.query_one("#welcome").focus()

    def selected_experiment(self) -> int | None:
        table = self.query_one("#experiments", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value)

    # -- live ------------------------------------------------------------------------------
    def on_lab_status(self, message: LabStatus) -> None:
        running = message.status.get("running")
        line = ("[b red]no lab service: reconnecting…[/]" if message.status.get("lost")
                else running_line(running) or _queue_line(message.status))
        self.query_one("#live-line", Static).update(line)
        spark = self.query_one("#live-loss", Sparkline)
        points = self.app.loss_history.get((running or {}).get("experiment_id"), [])
        spark.display = bool(points)
        spark.data = [loss for _, loss in points]
        if running and self.experiments:
            self._update_progress(running)

    def _update_progress(self, running: dict) -> None:
        table = self.query_one("#experiments", DataTable)
        key = str(running.get("experiment_id"))
        if key in table.rows and running.get("work_total"):
            table.update_cell(key, "progress", bar(running["work_done"] /
                                                   running["work_total"]))
            table.update_cell(key, "status", status_markup("running"))


    def on_resize(self, event) -> None:
        if self.experiments:
            self.show_experiments(self.experiments)  # names cut to the new width

    # -- events ----------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._history_at = -1
            self.load_runs(event.value)

    def on_key(self, event) -> None:
        filt = self.query_one("#filter", Input)
        if self.focused is filt and event.key in ("up", "down"):
            items = self.history.items()
            if items:
                step = 1 if event.key == "up" else -1
                self._history_at = max(-1, min(len(items) - 1, self._history_at + step))
                filt.value = items[self._history_at] if self._history_at >= 0 else ""
                filt.cursor_position = len(filt.value)
            event.stop()

    def on_virtual_table_page_wanted(self, message: VirtualTable.PageWanted) -> None:
        size, page = message.table.page_size, message.page
        params = self.view.params(self._condition(self.view.where), page * size, size)
        fetch(self, f"runs-page-{page}",
              lambda: (page, self.lab.read("runs_columns_page", **params)["rows"]))

    def on_virtual_table_sort_wanted(self, message: VirtualTable.SortWanted) -> None:
        self.view.sort_by(message.column)
        self.load_runs()

    def on_virtual_table_row_chosen(self, message: VirtualTable.RowChosen) -> None:
        t = message.table
        run_id = t.run_id_of(message.row)
        if "experiment_id" in t.columns:
            self.app.current_experiment = message.row[t.columns.index("experiment_id")]
        if run_id is None:
            self.notify("show the run_id column to open runs (C)", severity="warning")
            return
        self.app.open_run(run_id)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.app.current_experiment = int(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.scope = int(event.row_key.value)
        self.load_runs()
        self.runs_table.focus()

    def home_widget(self):
        return self.runs_table

    def on_escape(self) -> None:
        if self.focused is not self.runs_table:
            self.runs_table.focus()

    def action_all_runs(self) -> None:
        self.scope = None
        self.load_runs()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()


    def action_cancel(self) -> None:
        exp = self.selected_experiment()
        if self.focused is self.runs_table and self.runs_table.cursor_value:
            t = self.runs_table
            if "experiment_id" in t.columns:
                exp = t.cursor_value[t.columns.index("experiment_id")]
        if exp is None:
            return
        e = next((e for e in self.experiments if e["experiment_id"] == exp), {})
        status = e.get("status")
        if status not in ("queued", "running"):
            self.notify(f"experiment {exp} is {status}; only queued or running ones cancel",
                        severity="warning")
            return
        lost = "its runs not yet stored are lost" if status == "running" else "it never runs"

        def answered(yes: bool | None) -> None:
            if yes:
                fetch(self, "cancel", lambda: self.lab.call("cancel", exp))
        self.app.push_screen(Confirm(f"Cancel experiment {exp} ({escape(e.get('name', ''))}, "
                                     f"{status})? {lost}.", yes="cancel it"), answered)


def _queue_line(status: dict) -> str:
    queued = status.get("queued") or []
    if status.get("service") is None and "service" in status:
        return "[dim]no lab service: reading the file directly (training needs `moelab`)[/]"
    return f"{len(queued)} queued" if queued else "idle"
