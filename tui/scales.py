"""Numeric keys for the colour maps: a gradient bar with its values, and the phase colour's
two-dimensional key. Each comes as text for the screen and as samples for the exported
figure, so both show the same scale."""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from .format import num


def samples(colour: Callable[[float], str], n: int = 11) -> list[str]:
    return [colour(i / (n - 1)) for i in range(n)]


def bar_text(colour: Callable[[float], str], low: float | None, high: float | None,
             label: str, width: int = 24) -> Text:
    """`label  low ▕gradient▏ high` with the numbers the ends stand for."""
    text = Text()
    text.append(f"{label}  ", style="bold")
    text.append(f"{num(low, 3)} ", style="dim")
    for i in range(width):
        text.append(" ", style=Style(bgcolor=colour(i / (width - 1))))
    text.append(f" {num(high, 3)}", style="dim")
    return text


def diverging_text(colour: Callable[[float, float], str], vmax: float, label: str,
                   width: int = 24) -> Text:
    """A diverging scale from -vmax (blue) through 0 (white) to +vmax (red)."""
    text = Text()
    text.append(f"{label}  ", style="bold")
    text.append(f"{num(-vmax, 3)} ", style="dim")
    for i in range(width):
        v = -vmax + 2 * vmax * i / (width - 1)
        text.append(" ", style=Style(bgcolor=colour(v, vmax)))
    text.append(f" {num(vmax, 3)}", style="dim")
    return text


def key_grid(colour: Callable[[float, float], str], n: int = 5) -> list[list[str]]:
    """The phase colour over x, y in [0, 1]: rows top (y = 1) to bottom, columns x = 0 → 1."""
    return [[colour(c / (n - 1), 1 - r / (n - 1)) for c in range(n)] for r in range(n)]


def key_text(colour: Callable[[float, float], str], x_label: str, y_label: str,
             notes: list[str] = (), n: int = 4) -> Text:
    """The 2-D key, n × n cells of two characters, its axes labelled, and notes on the right
    of its rows."""
    text = Text()
    rows = key_grid(colour, n)
    lines = list(notes) + [""] * max(0, n + 1 - len(notes))
    for r, row in enumerate(rows):
        text.append(f"{y_label} 1 " if r == 0 else " " * (len(y_label) + 1) + (
            "0 " if r == n - 1 else "  "), style="dim")
        for c in row:
            text.append("  ", style=Style(bgcolor=c))
        text.append("   ")
        text.append_text(Text.from_markup(lines[r]))
        text.append("\n")
    pad = " " * (len(y_label) + 3)
    text.append(f"{pad}0{' ' * (2 * n - 2)}1 {x_label}", style="dim")
    if lines[n]:
        text.append("   ")
        text.append_text(Text.from_markup(lines[n]))
    return text
