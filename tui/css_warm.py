"""The built-in widgets' default CSS, parsed while the lab is idle rather than on opening.

Textual parses a widget class's DEFAULT_CSS the first time one is mounted: 10-30 ms of a
view's first opening on 2 cores (New experiment's inputs, switch and buttons; the selects of
the phase diagram and Experts). The app adds those classes' CSS soon after it starts, one
class per timer tick so the UI never stalls. Textual then finds it there, as it would have
added it, and parses nothing new. Only the classes the views use: adding every imported
widget's CSS made the other views slower (more rules to match).
"""

from __future__ import annotations

from textual.widget import Widget

TICK = 0.01  # seconds between two classes


def view_classes() -> list[type[Widget]]:
    from textual.containers import VerticalScroll
    from textual.widgets import Button, DataTable, Input, Label, Select, Switch
    from textual.widgets._select import SelectCurrent, SelectOverlay
    return [Input, Switch, Button, Select, SelectOverlay, SelectCurrent, DataTable, Label,
            VerticalScroll]


def add_default_css(app, cls: type[Widget]) -> None:
    """What Textual's Widget._post_register does for a class, then the parse."""
    node = cls.__new__(cls)  # _get_default_css reads only the class
    for read_from, css, tie_breaker, scope in node._get_default_css():
        app.stylesheet.add_source(css, read_from=read_from, is_default_css=True,
                                  tie_breaker=tie_breaker, scope=scope)
    app.stylesheet.rules  # noqa: B018 (parses the new source now; the rest are cached)


def warm(app) -> None:
    """Add the classes one per tick on the app's loop."""
    pending = view_classes()

    def step() -> None:
        if pending and app.is_running:
            add_default_css(app, pending.pop(0))
            app.set_timer(TICK, step)
    step()
