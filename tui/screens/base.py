"""What every view shares: header, tab bar, footer, leaving a text box, and the lab handle."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Input, TextArea

from ..messages import DataChanged
from ..widgets.view_bar import ViewBar
from .opening import Opening

TEXT_BOXES = (Input, TextArea)


def is_text_box(widget: Widget | None) -> bool:
    return isinstance(widget, TEXT_BOXES)


class LabScreen(Opening, Screen):
    VIEW: str | None = None  # the mode this screen is, for the tab bar
    BINDINGS = [Binding("escape", "leave_input", "leave box", show=False)]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Textual re-parses every stylesheet and restyles every screen (twice) when a mode's
        # screen first opens, since a new screen counts as having missed all CSS updates:
        # 100-300 ms per view on 2 cores, growing with the views opened. A screen built now
        # is styled with the current CSS when it mounts; a later theme change still counts.
        try:
            self._css_update_count = self.app._css_update_count
        except Exception:  # built outside a running app (no active app)
            pass
        self._suspended_once = False
        self._generation_left = 0  # the app's data generation when this view was left

    # Textual restyles a screen from scratch on every resume, and a new one resumes twice
    # right after its mount: 50-100 ms for a form of 40 fields on 2 cores. A screen never
    # suspended was styled with the current CSS at its mount; after a suspension, as usual.
    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        if not self._suspended_once:
            event.refresh_styles = False
        elif self._data_generation() != self._generation_left:
            # the data changed while another view was on screen (only that one was told)
            self.post_message(DataChanged(None))

    def _on_screen_suspend(self) -> None:
        self._suspended_once = True
        self._generation_left = self._data_generation()

    def _data_generation(self) -> int:
        read_ahead = getattr(self.app, "read_ahead", None)  # None: a test's bare App
        return read_ahead.generation if read_ahead is not None else 0

    # -- reading the view's data again: a unit stored, an experiment queued or finished
    # (DataChanged from the app's live feed), or `r`
    def on_data_changed(self, message: DataChanged) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read what the view shows again (views with data override this)."""

    def top_bars(self) -> ComposeResult:
        yield Header()
        yield ViewBar(self.VIEW)

    # The figure a view exports (see tui/screens/export.py): a figure spec (moelab.figures.screen)
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
