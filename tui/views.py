"""The lab's views, listed once: the app's keys and modes, the tab bar, the command palette
and the help read this list. A new view is its screen module, its reads, and a line here.

`screen` names the screen class as "module:Class" under tui/screens, imported when the app
starts; a view with `pushed` opens on top of the current one (run detail) rather than as a
mode of its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    key: str  # the key that opens it
    mode: str  # its name in the app (action show('mode'))
    title: str  # palette and help
    tab: str  # the tab bar
    about: str  # one line for the palette
    screen: str  # "module:Class" in tui/screens
    short: str = ""  # the tab bar when it is narrow (default: tab)
    pushed: bool = False  # opens on top of the current view

    def screen_class(self) -> type:
        module, name = self.screen.split(":")
        return getattr(importlib.import_module(f"moelab.tui.screens.{module}"), name)


VIEWS: tuple[View, ...] = (
    View("1", "runs", "Runs", "Runs",
         "experiments and runs, filter, sort, columns, mark to compare", "runs:RunsScreen"),
    View("2", "new", "New experiment", "New", "pick a preset, edit, queue",
         "new_experiment:NewExperimentScreen"),
    View("3", "phase", "Phase diagram", "Phase",
         "last-feature importance × sparsity, per expert", "phase:PhaseScreen"),
    View("4", "detail", "Run detail", "Run", "Gram matrix, feature norms, loss, router",
         "run_detail:RunDetailScreen", pushed=True),
    View("5", "experts", "Experts", "Experts",
         "Table 1 per setup, features per dimension, MoE Lens", "experts:ExpertsScreen",
         short="Exp"),
    View("6", "sql", "SQL console", "SQL", "read-only queries, saved queries, export",
         "sql:SqlScreen"),
    View("7", "compare", "Compare", "Compare", "the marked runs side by side",
         "compare:CompareScreen", short="Cmp"),
    View("8", "crosscoder", "Crosscoders", "Cross",
         "relative decoder norms, densities, feature recovery", "crosscoder:CrosscoderScreen",
         short="CC"),
)
BY_MODE = {v.mode: v for v in VIEWS}
