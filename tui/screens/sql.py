"""SQL console: read-only queries, results paged into a virtual table, history, export."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Header, Input, Label, Static

from ..fetch import Fetched, fetch
from ..history import History
from ..widgets.virtual_table import VirtualTable
from .base import LabScreen

EXAMPLE = "SELECT n_experts, avg(fpd) AS fpd FROM runs WHERE chosen GROUP BY 1 ORDER BY 1"


class ExportPrompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def compose(self) -> ComposeResult:
        yield Label("Export the whole result to (.csv or .parquet), Enter to write, Esc to "
                    "cancel:")
        yield Input(value="result.parquet", id="export-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class SqlScreen(LabScreen):
    BINDINGS = [
        Binding("ctrl+e", "export", "export CSV/Parquet", priority=True),
        Binding("slash", "focus_query", "query", show=False),
        Binding("escape", "focus_table", "table", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.history = History("sql")
        self.query_text = ""
        self._history_at = -1
        self._started = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=f"read-only SQL, Enter runs it (↑↓ history), e.g. {EXAMPLE}",
                    id="query", suggester=SuggestFromList(self.history.items()))
        yield Static("[dim]views: experiments, runs, experts, features, metrics, weights[/]",
                     id="sql-status")
        yield VirtualTable(id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#result", VirtualTable)

    def run_query(self, query: str) -> None:
        self._started = time.perf_counter()
        size = self.table.page_size
        self.query_one("#sql-status", Static).update("[dim]running…[/]")
        fetch(self, "query", lambda: (query, self.lab.read("sql_page", query=query, offset=0,
                                                           limit=size, count=True)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "query" and event.value.strip():
            self._history_at = -1
            self.run_query(event.value)

    def on_fetched(self, message: Fetched) -> None:
        status = self.query_one("#sql-status", Static)
        if message.key == "query":
            if message.error:
                status.update(f"[red]✗ {message.error}[/]")
                return
            query, page = message.value
            self.query_text = query
            self.history.add(query)
            self.table.reset(page["columns"], page["total"], page["rows"])
            ms = (time.perf_counter() - self._started) * 1000
            status.update(f"[b]{page['total']:,}[/b] rows · {len(page['columns'])} columns · "
                          f"{ms:.0f} ms   [dim](Esc: table, ctrl+e: export)[/]")
        elif message.key.startswith("page-") and message.value is not None:
            self.table.set_page(*message.value)
        elif message.key == "export":
            if message.error:
                self.notify(message.error, severity="error", timeout=8)
            else:
                n, path = message.value
                self.notify(f"wrote {n:,} rows to {path}")

    def on_virtual_table_page_wanted(self, message: VirtualTable.PageWanted) -> None:
        size, page, query = message.table.page_size, message.page, self.query_text
        fetch(self, f"page-{page}", lambda: (page, self.lab.read(
            "sql_page", query=query, offset=page * size, limit=size)["rows"]))

    def on_virtual_table_sort_wanted(self, message: VirtualTable.SortWanted) -> None:
        self.notify("sort with ORDER BY in the query", severity="information")

    def on_key(self, event) -> None:
        box = self.query_one("#query", Input)
        if self.focused is box and event.key in ("up", "down"):
            items = self.history.items()
            if items:
                step = 1 if event.key == "up" else -1
                self._history_at = max(-1, min(len(items) - 1, self._history_at + step))
                box.value = items[self._history_at] if self._history_at >= 0 else ""
                box.cursor_position = len(box.value)
            event.stop()

    def action_focus_query(self) -> None:
        self.query_one("#query", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_export(self) -> None:
        if not self.query_text:
            self.notify("run a query first", severity="warning")
            return
        query = self.query_text

        def chosen(path: str | None) -> None:
            if not path:
                return
            from pathlib import Path
            out = str((self.app.export_dir / Path(path).expanduser()).absolute())
            fetch(self, "export", lambda: (self.lab.read("export_query", query=query,
                                                         out=out), out))
        self.app.push_screen(ExportPrompt(), chosen)

    def figure_request(self):
        return None
