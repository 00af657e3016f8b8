"""The Runs view's marks (space), columns (choose, hide, move) and saved views, as a mixin
of RunsScreen: the table's shape, apart from loading it."""

from __future__ import annotations

from textual.widgets import Input

from ..fetch import fetch
from ..runs_view import RunsView
from .choosers import ColumnChooser, NamePicker, column_choices
from .prompts import TextPrompt


class RunsColumns:
    """Needs from the screen: runs_table, view, views, experiments, load_runs()."""

    # -- marks -----------------------------------------------------------------------------
    def action_mark(self) -> None:
        if not self.experiments:
            self.app.quick_start()  # the empty database's one key
            return
        t = self.runs_table
        run_id = t.run_id_of(t.cursor_value)
        if run_id is None:
            self.notify("move to a run in the runs table (with its run_id column) to mark it",
                        severity="warning")
            return
        self.app.toggle_mark(run_id)
        t.action_move(1)

    def action_unmark(self) -> None:
        self.app.set_marks(())

    def marks_changed(self) -> None:
        super().marks_changed()
        self.runs_table.set_marks(self.app.marked)

    def show_chooser(self, choices: dict) -> None:
        self.app.push_screen(ColumnChooser(self.view.columns, column_choices(choices)),
                             self._columns_chosen)

    # -- columns and views -----------------------------------------------------------------
    def _cursor_column(self) -> str | None:
        t = self.runs_table
        return t.columns[t.cursor_col] if t.columns else None

    def action_hide_column(self) -> None:
        col = self._cursor_column()
        if col is not None:
            self.view.hide(col)
            self.load_runs()

    def action_move_column(self, delta: int) -> None:
        col = self._cursor_column()
        if col is not None:
            self.runs_table.cursor_col = self.view.move(col, delta)
            self.load_runs()

    def action_choose_columns(self) -> None:
        fetch(self, "choices", lambda: self.lab.read("runs_column_choices"))

    def _columns_chosen(self, columns: list[str] | None) -> None:
        if columns:
            self.view.set_columns(columns)
            self.load_runs()

    def action_save_view(self) -> None:
        def save(name: str | None) -> None:
            if name:
                try:
                    self.views.put(name, self.view.to_dict())
                except OSError as err:
                    self.notify(f"cannot save the view: {err}", severity="error")
                    return
                self.notify(f"saved view {name!r} ({self.view.describe()}); w opens it")
        self.app.push_screen(TextPrompt("Save this view (filter, columns, sort) as:",
                                        placeholder="a name"), save)

    def action_open_view(self) -> None:
        def describe(d: dict) -> str:
            return RunsView.from_dict(d).describe()

        def picked(name: str | None) -> None:
            saved = self.views.all().get(name) if name else None
            if saved is not None:
                self.view = RunsView.from_dict(saved)
                self.query_one("#filter", Input).value = self.view.where
                self.load_runs()
        self.app.push_screen(NamePicker("Saved views", self.views.all(), describe,
                                        self.views.delete), picked)
