"""The tab bar under the header: every view with its key, the current one highlighted;
a click switches views too."""

from __future__ import annotations

from textual.widgets import Static

# key -> (mode, short title); the app's SCREENS_BY_KEY holds the long descriptions.
VIEWS = {
    "1": ("runs", "Runs"),
    "2": ("new", "New"),
    "3": ("phase", "Phase"),
    "4": ("detail", "Run"),
    "5": ("experts", "Experts"),
    "6": ("sql", "SQL"),
    "7": ("compare", "Compare"),
    "8": ("crosscoder", "Cross"),
}


def bar_markup(current: str | None, marked: int = 0) -> str:
    parts = []
    for key, (mode, title) in VIEWS.items():
        label = f" {key} {title}" + (f" ({marked})" if mode == "compare" and marked else "")
        style = "b reverse" if mode == current else "dim" if mode != "compare" or not marked \
            else "b"
        parts.append(f"[@click=app.show('{mode}')][{style}]{label} [/][/]")
    return " ".join(parts) + "   [dim]? help · q back/quit[/]"


class ViewBar(Static):
    DEFAULT_CSS = """
    ViewBar { height: 1; background: $boost; }
    """

    def __init__(self, current: str | None = None, **kwargs):
        super().__init__("", **kwargs)
        self.current = current

    def on_mount(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        marked = len(getattr(self.app, "marked", ()) or ())
        self.update(bar_markup(self.current, marked))
