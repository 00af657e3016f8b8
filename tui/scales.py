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
             n: int = 5) -> Text:
    text = Text()
    for r, row in enumerate(key_grid(colour, n)):
        text.append(("1 " if r == 0 else "0 " if r == n - 1 else "  "), style="dim")
        for c in row:
            text.append("  ", style=Style(bgcolor=c))
        text.append(f"  {y_label} ↑" if r == 0 else "", style="dim")
        text.append("\n")
    text.append("  0" + " " * (2 * n - 3) + "1", style="dim")
    text.append(f"  {x_label} →", style="dim")
    return text
