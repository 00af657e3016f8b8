"""Colour scales of the lab's views, as pure functions returning '#rrggbb'."""

from __future__ import annotations

import functools

PURPLE = "#8e44ad"  # monosemantic feature (Elhage's colouring)
GREEN = "#27ae60"  # feature in superposition
CURSOR = "#00ff00"  # never produced by the scales below, so the cursor always shows


def _byte(v: float) -> int:
    v = int(v * 255 + 0.5)
    return 0 if v < 0 else 255 if v > 255 else v


def hex_rgb(r: float, g: float, b: float) -> str:
    return "#%02x%02x%02x" % (_byte(r), _byte(g), _byte(b))  # noqa: UP031 (hot: 20k a view)


def phase_colour(x: float, y: float) -> str:
    """SPEC's phase-diagram colour from superposition x and norm y, both in [0, 1]:
    white = not represented, blue = monosemantic, red = superposition. (Inputs are rounded
    to 1/1024, far below a colour step, so the 20,000 cells of a large view share a cache.)"""
    return _phase_colour(round(x * 1024), round(y * 1024))


@functools.lru_cache(maxsize=65536)
def _phase_colour(xi: int, yi: int) -> str:
    x, y = xi / 1024, yi / 1024
    return hex_rgb(x * y + 1 - y, 1 - y, y * (1 - x) + 1 - y)


# phase_colour of (xi / 1024, yi / 1024), for loops over many cells that scale once per grid.
phase_colour_1024 = _phase_colour


def sequential(t: float) -> str:
    """White (0) to dark blue (1), for one metric."""
    t = max(0.0, min(1.0, t))
    return hex_rgb(1 - 0.97 * t, 1 - 0.81 * t, 1 - 0.58 * t)


def diverging(v: float, vmax: float) -> str:
    """Blue for negative, white for 0, red for positive, saturating at |v| = vmax."""
    t = 0.0 if vmax <= 0 else max(-1.0, min(1.0, v / vmax))
    if t >= 0:
        return hex_rgb(1, 1 - 0.85 * t, 1 - 0.85 * t)
    return hex_rgb(1 + 0.85 * t, 1 + 0.85 * t, 1)
