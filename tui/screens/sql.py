"""SQL console: a multi-line editor with SQL highlighting and completion of view and column
names, read-only queries paged into a virtual table, history, saved queries, export."""

from __future__ import annotations

import time

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, TextArea

from ..fetch import Fetched, fetch
from ..history import History
from ..settings import Named
from ..sql_complete import VIEWS, candidates, near_cursor, word_before
from ..widgets.key_bar import KeyBar
from ..widgets.sql_editor import HIGHLIGHT_MAX, SqlEditor
from ..widgets.virtual_table import VirtualTable
from .base import LabScreen
from .choosers import NamePicker
from .prompts import TextPrompt

EXAMPLE = "SELECT n_experts, avg(fpd) AS fpd FROM runs WHERE chosen GROUP BY 1 ORDER BY 1"
# One line at 100 columns; the key bar shows ^r run, ^s save, ^o saved, ^e export too.
HINT = ("[dim]ctrl+r runs · tab completes view and column names · ctrl+↑↓ history · "
        "Esc: the results table[/]")


def sql_language() -> str | None:
    """'sql' when the highlighting grammar is installed (tree-sitter-sql), else plain."""
    try:
        from textual._tree_sitter import get_language
    except ImportError:
        return None
    return "sql" if get_language("sql") is not None else None


class SqlScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  ctrl+r (or F5) runs the query · tab completes view and column names (nothing to complete:
  it stays in the editor) · ctrl+↑↓ history · ctrl+s save the query · ctrl+o saved queries
  ctrl+e export CSV/Parquet · Esc: the results table · no highlighting over 10,000 characters"""
    VIEW = "sql"
    BINDINGS = [
        Binding("ctrl+r,f5", "run", "run", priority=True),
        Binding("tab", "complete", "complete", show=False, priority=True),
        Binding("ctrl+e", "export", "export", priority=True),
        Binding("ctrl+s", "save_query", "save", priority=True),
        Binding("ctrl+o", "open_query", "saved", priority=True),
        Binding("ctrl+up", "history(1)", "older", show=False, priority=True),
        Binding("ctrl+down", "history(-1)", "newer", show=False, priority=True),
        Binding("slash", "focus_query", "query", show=False),
        Binding("space", "mark", "mark run", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.history = History("sql")
        self.saved = Named("queries")
        self.query_text = ""
        self.columns: dict[str, list[str]] = {}
        self.completions: list[str] = []
        self._history_at = -1
        self._started = 0.0

    def compose(self) -> ComposeResult:
        yield from self.top_bars()
        editor = SqlEditor(EXAMPLE, grammar=sql_language(), id="query", soft_wrap=True,
                           tab_behavior="focus", show_line_numbers=False)
        editor.theme = "monokai" if sql_language() else editor.theme
        yield editor
        yield Static(HINT, id="sql-complete")
        yield Static("[dim]views: experiments, runs, experts, features, metrics, weights[/]",
                     id="sql-status")
        yield VirtualTable(id="result")
        yield KeyBar()

    def on_mount(self) -> None:
        editor = self.editor
        editor.focus()
        editor.select_all()

        def names():
            return {v: self.lab.read("column_names", view=v) for v in VIEWS}
        fetch(self, "names", names)

    @property
    def editor(self) -> SqlEditor:
        return self.query_one("#query", SqlEditor)

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#result", VirtualTable)

    # -- running ---------------------------------------------------------------------------
    def action_run(self) -> None:
        query = self.editor.text.strip()
        if query:
            self._history_at = -1
            self.run_query(query)

    def run_query(self, query: str) -> None:
        self._started = time.perf_counter()
        size = self.table.page_size
        self.query_one("#sql-status", Static).update("[dim]running…[/]")
        fetch(self, "query", lambda: (query, self.lab.read("sql_page", query=query, offset=0,
                                                           limit=size, count=True)))

    def on_fetched(self, message: Fetched) -> None:
        status = self.query_one("#sql-status", Static)
        if message.key == "query":
            if message.error:
                status.update(f"[red]✗ {message.error}[/]")
                return
            query, page = message.value
            self.query_text = query
            self.history.add(query)
            self.table.marks = set(self.app.marked)
            self.table.reset(page["columns"], page["total"], page["rows"])
            ms = (time.perf_counter() - self._started) * 1000
            marks = " · space marks runs" if "run_id" in page["columns"] else ""
            status.update(f"[b]{page['total']:,}[/b] rows · {len(page['columns'])} columns · "
                          f"{ms:.0f} ms   [dim](Esc: table{marks}, ctrl+e: export)[/]")
        elif message.key == "names" and message.value is not None:
            self.columns = message.value
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

    def on_virtual_table_row_chosen(self, message: VirtualTable.RowChosen) -> None:
        run_id = message.table.run_id_of(message.row)
        if run_id is not None:
            self.app.open_run(run_id)

    # -- completion ------------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._update_completions()

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        self._update_completions()

    def _prefix(self) -> str:
        editor = self.editor
        row, col = editor.cursor_location
        line = editor.document.get_line(row) if row < editor.document.line_count else ""
        return word_before(line, col)

    def _update_completions(self) -> None:
        editor = self.editor
        row, col = editor.cursor_location
        prefix = self._prefix()
        self.completions = candidates(prefix, self.columns,
                                      near_cursor(editor.document.lines, row, col))
        box = self.query_one("#sql-complete", Static)
        if self.completions:
            first, rest = self.completions[0], self.completions[1:]
            box.update(f"tab → [b]{escape(first)}[/b]  [dim]{escape('  '.join(rest))}[/]")
        elif editor.size_limited:
            box.update(f"[dim]no highlighting above {HIGHLIGHT_MAX:,} characters · "
                       "ctrl+r runs · Esc: the results table[/]")
        else:
            box.update(HINT)

    def action_complete(self) -> None:
        editor = self.editor
        if self.focused is not editor:
            self.focus_next()
            return
        # Tab never leaves the editor (Esc does): keys typed after it must land in the query.
        row, col = editor.cursor_location
        prefix = self._prefix()
        if self.completions:
            editor.replace(self.completions[0], (row, col - len(prefix)), (row, col))
        elif not prefix:
            editor.insert("    ")  # indents
        else:
            box = self.query_one("#sql-complete", Static)
            why = "column names are still loading" if not self.columns else "no name starts so"
            box.update(f"[dim]tab: nothing to complete for {escape(prefix)!r} ({why}) · "
                       "Esc: the results table[/]")

    # -- history and saved queries ---------------------------------------------------------
    def action_history(self, step: int) -> None:
        items = self.history.items()
        if not items:
            return
        self._history_at = max(-1, min(len(items) - 1, self._history_at + step))
        self.editor.text = items[self._history_at] if self._history_at >= 0 else ""
        self.editor.move_cursor(self.editor.document.end)

    def action_save_query(self) -> None:
        text = self.editor.text.strip()
        if not text:
            return

        def save(name: str | None) -> None:
            if name:
                try:
                    self.saved.put(name, text)
                except OSError as err:
                    self.notify(f"cannot save the query: {err}", severity="error")
                    return
                self.notify(f"saved query {name!r}; ctrl+o opens it")
        self.app.push_screen(TextPrompt("Save this query as:", placeholder="a name"), save)

    def action_open_query(self) -> None:
        def picked(name: str | None) -> None:
            text = self.saved.all().get(name) if name else None
            if text:
                self.editor.text = text
                self.editor.focus()
                self.run_query(text)
        self.app.push_screen(NamePicker("Saved queries", self.saved.all(),
                                        lambda q: " ".join(str(q).split())[:70],
                                        self.saved.delete), picked)

    # -- focus, marks, export --------------------------------------------------------------
    def action_focus_query(self) -> None:
        self.editor.focus()

    def action_mark(self) -> None:
        run_id = self.table.run_id_of(self.table.cursor_value)
        if run_id is not None:
            self.app.toggle_mark(run_id)
            self.table.action_move(1)

    def marks_changed(self) -> None:
        super().marks_changed()
        self.table.set_marks(self.app.marked)

    def action_export(self) -> None:
        if not self.query_text:
            self.notify("run a query first", severity="warning")
            return
        query = self.query_text
        from .export import ask_path

        def write(path) -> None:
            fetch(self, "export", lambda: (self.lab.read("export_query", query=query,
                                                         out=str(path)), str(path)))
        ask_path(self.app, "the whole result (.csv or .parquet)", "result.parquet", write)

    def figure_spec(self):
        return None
