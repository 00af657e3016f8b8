"""Figure export from any view, through moelab.figures when it is installed."""

from __future__ import annotations

import importlib
import time

from .fetch import Fetched, fetch


def figure_module():
    try:
        return importlib.import_module("moelab.figures")
    except ImportError:
        return None


def export_figure(app) -> None:
    request = app.screen.figure_request() if hasattr(app.screen, "figure_request") else None
    if request is None:
        app.notify("this view has no figure; F2 saves it as an SVG screenshot",
                   severity="warning")
        return
    figures = figure_module()
    exporter = getattr(figures, "export_figure", None) if figures else None
    if exporter is None:
        app.notify("figure export is not available in this install; F2 saves an SVG "
                   "screenshot", severity="warning")
        return
    name, params = request
    out = app.export_dir / f"moelab-{name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    fetch(app, "figure", lambda: exporter(app.lab.client, name, out, **params))


def on_figure(app, message: Fetched) -> None:
    if message.error:
        app.notify(f"figure export failed: {message.error}", severity="error")
    else:
        app.notify(f"saved {message.value}")
