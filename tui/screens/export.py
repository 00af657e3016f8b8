"""F2 (SVG screenshot) and F3 (figure of the view), each to a path the user sees first.

A prompt shows the file it is about to write, in the folder chosen last time (remembered in
the settings file, see tui/settings.py); Enter writes it, Esc cancels, and the folder of
the path given becomes the default for next time. F3 draws the view's own figure spec
(screen.figure_spec()) with moelab.figures.screen, so the file shows what the screen shows.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

from ..fetch import Fetched, fetch
from ..settings import Settings
from .prompts import TextPrompt

EXPORT_DIR_KEY = "export_dir"


def default_dir(given: str | os.PathLike | None) -> Path:
    """The folder asked for (tests, --export-dir), $MOELAB_EXPORT_DIR, the one chosen last
    time, or the current one."""
    chosen = given or os.environ.get("MOELAB_EXPORT_DIR") or Settings().get(EXPORT_DIR_KEY)
    return Path(chosen or ".").expanduser().absolute()


def remember_dir(app, path: Path) -> None:
    app.export_dir = path.parent
    try:
        Settings().set(EXPORT_DIR_KEY, str(path.parent))
    except OSError as err:
        app.notify(f"cannot remember the folder: {err}", severity="warning")


def resolve(app, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (app.export_dir / path).absolute()


def ask_path(app, what: str, name: str, then) -> None:
    default = app.export_dir / name

    def answered(text: str | None) -> None:
        if not text:
            return
        path = resolve(app, text)
        if not path.parent.is_dir():
            app.notify(f"no folder {path.parent}", severity="error")
            return
        remember_dir(app, path)
        then(path)

    app.push_screen(TextPrompt(f"Save {what} to (Enter writes, Esc cancels):", str(default),
                               note="[dim]the folder is remembered for next time[/]"),
                    answered)


def screenshot(app) -> None:
    name = f"moelab-{app.current_mode or 'view'}-{time.strftime('%Y%m%d-%H%M%S')}.svg"

    def write(path: Path) -> None:
        # After a refresh: the prompt is gone from the screen by then.
        def save() -> None:
            try:
                app.save_screenshot(path.name, path=str(path.parent))
            except OSError as err:
                app.notify(f"cannot save the screenshot: {err}", severity="error")
                return
            app.notify(f"saved {path}")
        app.call_after_refresh(save)
    ask_path(app, "an SVG screenshot of this view", name, write)


def figure_module():
    try:
        return importlib.import_module("moelab.figures.screen")
    except ImportError:
        return None


def export_figure(app) -> None:
    screen = app.screen
    spec = screen.figure_spec() if hasattr(screen, "figure_spec") else None
    if spec is None:
        app.notify("this view shows no figure yet; F2 saves it as an SVG screenshot",
                   severity="warning")
        return
    figures = figure_module()
    if figures is None:
        app.notify("figure export is not available in this install; F2 saves an SVG "
                   "screenshot", severity="warning")
        return
    name = f"moelab-{screen.figure_name()}-{time.strftime('%Y%m%d-%H%M%S')}.png"

    def write(path: Path) -> None:
        app.notify(f"drawing {path.name} …")
        fetch(app, "figure", lambda: figures.export_spec(spec, path), exclusive=False)
    ask_path(app, "this view as a figure (.png, .svg or .pdf)", name, write)


def on_figure(app, message: Fetched) -> None:
    if message.error:
        app.notify(f"figure export failed: {message.error}", severity="error", timeout=8)
    else:
        app.notify(f"saved {message.value}")
