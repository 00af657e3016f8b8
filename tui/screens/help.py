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
  Experts are numbered from 0 everywhere, as in the views and `--expert`.

[b]Runs (1)[/b]
  /  filter runs with SQL over the runs view (Enter applies, ↑↓ recent filters)
  Enter on an experiment: show only its runs · a: all runs · Enter on a run: open it
  s  sort by the cursor's column (again: reverse) · h hide it · < > move it
  C  choose and order columns (any runs column, config field, min/max/last of a metric)
  ctrl+s save the view (filter, columns, sort) by name · w open a saved view
  c  cancel a queued/running experiment (asks first) · u unmark every run
  space  (empty database) queue fig4 --quick

[b]New experiment (2)[/b]
  pick a preset, edit fields as TOML values; problems show as you type (checked in the
  background) · fields a sweep variant sets again are marked ◆ · the variants are listed
  below the fields, one per line: edit them, empty one to remove it, ctrl+n adds one
  ↑ ↓ move between fields · ctrl+u empties the field · ctrl+r queues (the name is cleared)
  seed control (switch at the top): also queue the same config with other seeds, named
  "NAME (control of N)": the seed noise for Compare (7) and `moelab compare N B`

[b]Phase diagram (3)[/b]
  arrows move over cells (values below), tab: next grid, Enter opens the run,
  v  next colouring (paper / norm / superposition (j≠i, all j) / dimensionality / loss / each custom
     metric of `moelab metric add`, on one numeric scale)
  , .  earlier / later snapshot step (runs trained with train.snapshots); past the last
     step: the final weights again; the title says which step is shown
  ?  in a cell: an unstable point (at most half its seeds end in the chosen seed's
     last-feature classes); the legend counts them, the line below gives seeds, stability

[b]Run detail (4)[/b]
  [ ]  previous / next expert · arrows move over the Gram matrix · Esc or q back
  , .  earlier / later snapshot step (runs trained with train.snapshots)

[b]Experts (5)[/b]
  l  features per dimension ↔ loss against sparsity
  [ ]  MoE Lens of the previous / next run (it becomes the current run: 4 opens it)

[b]SQL console (6)[/b]
  ctrl+r (or F5) runs the query · tab completes view and column names (nothing to complete:
  it stays in the editor) · ctrl+↑↓ history · ctrl+s save the query · ctrl+o saved queries
  ctrl+e export CSV/Parquet · Esc: the results table · no highlighting over 10,000 characters

[b]Compare (7)[/b]
  g  group runs whose config differs only by seed (mean and 95% band) or show each run
  m  next logged metric for the curves · [ ] expert of the Gram panels · u unmark all
  grouped, a row under each final metric says whether each group "differs beyond seed
  noise" from the first (the 95% intervals of their means do not overlap) or is "within
  seed noise"; a group with one seed has no noise floor (queue with --set train.seeds=N)

[b]Crosscoders (8)[/b]
  pick a crosscoder at the top: relative decoder norm histogram, latents by class with
  their densities, recovery of the true features · r reload · none stored: it says how"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(GLOBAL_KEYS)
            yield Static("[dim]Esc closes[/]")
