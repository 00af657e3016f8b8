"""Help: every key of the app and of the view underneath."""

from __future__ import annotations

import textwrap

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..views import VIEWS

# each "key title" kept on one line (no-break spaces while wrapping)
VIEW_KEYS = textwrap.fill("  ".join(f"{v.key} {v.title}".replace(" ", "\xa0") for v in VIEWS),
                          width=90, initial_indent="  ", subsequent_indent="  ",
                          break_on_hyphens=False).replace("\xa0", " ")
GLOBAL_KEYS = """[b]Everywhere[/b] (the tab bar under the title names the views; click it too)
""" + VIEW_KEYS + """
  q        back (run detail, help, dialogs) or quit; training goes on in the lab service
  Esc      leave a text box (then every key above works again)
  ctrl+p   command palette (every view and action)     ?  or F1   this help
  F2       save this view as an SVG screenshot         F3  export this view as a figure
           (both ask for the path first; the folder is remembered)
  space    mark the run under the cursor for comparison (Runs, phase diagram, run detail,
           SQL results with a run_id); 7 compares the marked runs
  Experts are numbered from 0 everywhere, as in the views and `--expert`."""


def view_keys() -> str:
    """Each view's keys, from its screen's HELP, in the order of the View list."""
    return "\n\n".join(f"[b]{v.title} ({v.key})[/b]\n{v.screen_class().HELP.rstrip()}"
                       for v in VIEWS)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(GLOBAL_KEYS + "\n\n" + view_keys())
            yield Static("[dim]Esc closes[/]")
