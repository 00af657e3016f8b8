"""Help: every key of the app and of the view underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GLOBAL_KEYS = """[b]Everywhere[/b]
  1 Runs   2 New experiment   3 Phase diagram   4 Run detail   5 Experts   6 SQL console
  ctrl+p   command palette (every view and action)     ?  or F1   this help
  F2       save this view as an SVG screenshot         F3  export this view as a figure
  tab      next widget     ctrl+q  quit (training goes on in the lab service)

[b]Runs (1)[/b]
  /  filter runs with SQL over the runs view (Enter applies, ↑↓ recent filters)
  Enter on an experiment: show only its runs · a: all runs · Enter on a run: open it
  s  sort by the cursor's column (again: reverse) · c  cancel a queued/running experiment
  space  (empty database) queue fig4 --quick

[b]New experiment (2)[/b]
  pick a preset, edit fields as TOML values; problems show as you type · ctrl+r queue

[b]Phase diagram (3)[/b]
  arrows move over cells (values below), tab: next grid, Enter opens the run,
  v  next colouring (paper / norm / superposition / dimensionality / loss)

[b]Run detail (4)[/b]
  [ ]  previous / next expert · arrows move over the Gram matrix · Esc back

[b]Experts (5)[/b]
  l  features per dimension ↔ loss against sparsity

[b]SQL console (6)[/b]
  Enter runs the query (↑↓ history) · Esc to the table · ctrl+e export CSV/Parquet"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(GLOBAL_KEYS)
            yield Static("[dim]Esc closes[/]")
