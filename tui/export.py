"""Figure export from any view, through moelab.figures (matplotlib, loaded on first use).

A view says which figure it shows with figure_request() -> (kind, experiment_id, options)
or None; the file goes to the app's export directory.
"""

from __future__ import annotations

import importlib
import time

from .fetch import Fetched, fetch

# The figure each preset is best known by, for views that show a whole experiment.
PRESET_FIGURE = {
    "fig4": "phase-diagram", "fig1-2": "gram", "fig6-init": "feature-norms",
    "fig3": "fpd-vs-sparsity", "tms-classic": "fpd-vs-sparsity", "fig5": "routing-regions",
    "table1": "usage-table",
}


def figure_module():
    try:
        return importlib.import_module("moelab.figures")
    except ImportError:
        return None


def export_figure(app) -> None:
    screen = app.screen
    request = screen.figure_request() if hasattr(screen, "figure_request") else None
    if request is None:
        app.notify("this view has no figure; F2 saves it as an SVG screenshot",
                   severity="warning")
        return
    figures = figure_module()
    if figures is None or not hasattr(figures, "export"):
        app.notify("figure export is not available in this install; F2 saves an SVG "
                   "screenshot", severity="warning")
        return
    kind, experiment_id, options = request
    suffix = ".csv" if kind == "usage-table" else ".png"
    out = app.export_dir / f"moelab-{kind}-{experiment_id}-{time.strftime('%H%M%S')}{suffix}"
    app.notify(f"drawing {kind} …")
    fetch(app, "figure", lambda: figures.export(app.lab, kind, experiment_id, out, **options),
          exclusive=False)


def on_figure(app, message: Fetched) -> None:
    if message.error:
        app.notify(f"figure export failed: {message.error}", severity="error", timeout=8)
    else:
        app.notify(f"saved {message.value}")
