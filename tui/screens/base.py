"""What every view shares: header, tab bar, footer, leaving a text box, and the lab handle."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Input, TextArea

from ..widgets.view_bar import ViewBar

TEXT_BOXES = (Input, TextArea)


def is_text_box(widget: Widget | None) -> bool:
    return isinstance(widget, TEXT_BOXES)


class LabScreen(Screen):
    VIEW: str | None = None  # the mode this screen is, for the tab bar
    BINDINGS = [Binding("escape", "leave_input", "leave box", show=False)]

    def top_bars(self) -> ComposeResult:
        yield Header()
        yield ViewBar(self.VIEW)

    # The figure a view exports (see tui/export.py): a figure spec (moelab.figures.screen)
    # drawn from exactly what the view shows, or None.
    def figure_spec(self) -> dict | None:
        return None

    def figure_name(self) -> str:
        return self.VIEW or "view"

    @property
    def lab(self):
        return self.app.lab

    def home_widget(self) -> Widget | None:
        """Where Esc takes the focus from a text box: the first focusable widget that is
        not one (the screen itself when there is none)."""
        for widget in self.focus_chain:
            if not is_text_box(widget):
                return widget
        return None

    def action_leave_input(self) -> None:
        if is_text_box(self.focused):
            home = self.home_widget()
            if home is not None:
                home.focus()
            else:
                self.set_focus(None)
        else:
            self.on_escape()

    def on_escape(self) -> None:
        """Esc outside a text box; views with somewhere to go back to override it."""

    def marks_changed(self) -> None:
        """The set of runs marked for comparison changed."""
        for bar in self.query(ViewBar):
            bar.refresh_bar()
