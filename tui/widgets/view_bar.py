"""The tab bar under the header: every view with its key, the current one highlighted;
a click switches views too."""

from __future__ import annotations

from textual.widgets import Static

from ..views import VIEWS

# Narrower terminals get tighter forms, the first that fits: 100 columns keep every word
# (with runs marked the full bar is 103), 80 keep every view and the help key.
FORMS = (  # (gap between tabs, short titles, what follows the tabs)
    (" ", False, "   [dim]? help · q back/quit[/]"),
    ("", False, "  [dim]? help · q back/quit[/]"),
    ("", False, "  [dim]? help · q quit[/]"),
    ("", False, " [dim]? help[/]"),
    ("", True, " [dim]? help[/]"),
)


def bar_markup(current: str | None, marked: int = 0, width: int | None = None) -> str:
    """The bar in the first form of FORMS that fits `width` columns (all of it: None)."""
    for gap, short, tail in FORMS:
        parts, used = [], len(tail_text(tail))
        for view in VIEWS:
            key, mode = view.key, view.mode
            title = (view.short or view.tab) if short else view.tab
            label = f" {key} {title}" + (f" ({marked})" if mode == "compare" and marked else "")
            style = "b reverse" if mode == current else "dim" if mode != "compare" or not marked \
                else "b"
            parts.append(f"[@click=app.show('{mode}')][{style}]{label} [/][/]")
            used += len(label) + 1 + len(gap)
        if width is None or used - len(gap) <= width:
            break
    return gap.join(parts) + tail


def tail_text(tail: str) -> str:
    return tail.replace("[dim]", "").replace("[/]", "")


class ViewBar(Static):
    DEFAULT_CSS = """
    ViewBar { height: 1; background: $boost; }
    """

    def __init__(self, current: str | None = None, **kwargs):
        super().__init__("", **kwargs)
        self.current = current

    def on_mount(self) -> None:
        self.refresh_bar()

    def on_resize(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        marked = len(getattr(self.app, "marked", ()) or ())
        self.update(bar_markup(self.current, marked, self.size.width or None))
