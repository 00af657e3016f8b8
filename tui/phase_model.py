"""What the phase diagram shows, as pure data: per grid the colours, ticks and caption, the
colour key, and the same as a figure spec for export (so F3 writes what is on screen).

Layout as in the paper's figure and `moelab export figure phase-diagram`: x = last-feature
importance (left to right), y = sparsity (bottom to top). The paper colour divides norm and
superposition by their maximum over each grid (white really means "not represented");
single metrics share one scale over every grid, shown with its numbers.
"""

from __future__ import annotations

from .colours import phase_colour, phase_colour_1024, sequential
from .format import num, setup_label
from .scales import key_grid, samples

# What colours the grid: label, and the cell field (None: SPEC's two-metric colour).
COLOURINGS = {
    "paper": ("paper colour: x = superposition (j≠i), y = norm", "superposition"),
    "paper-all": ("paper colour, authors' superposition (all j)", "superposition_all"),
    "norm": ("norm of the last feature", "norm"),
    "superposition": ("superposition of the last feature (j≠i)", "superposition"),
    "dimensionality": ("dimensionality of the last feature", "dimensionality"),
    "loss": ("evaluation loss", "eval_loss"),
}
X_TITLE = "last-feature importance →"
Y_TITLE = "sparsity"


def is_paper(colouring: str) -> bool:
    return colouring.startswith("paper")


def colouring_info(colouring: str) -> tuple[str, str]:
    """(label, cell field) of a colouring; "metric:NAME" is a custom metric, merged into the
    cells under that key (tui/phase_layers.py)."""
    if colouring.startswith("metric:"):
        return f"custom metric {colouring[7:]}", colouring
    return COLOURINGS[colouring]


def _ticks(values: list[float], most: int = 3) -> list[str]:
    """Labels for the first, middle and last values; '' elsewhere."""
    n = len(values)
    keep = {0, n - 1, n // 2} if most >= 3 else {0, n - 1}
    return [num(v, 3) if i in keep else "" for i, v in enumerate(values)]


def slots(grid: dict, expert: int) -> list[list[dict | None]]:
    """The cells of one expert as rows (top = highest sparsity) × columns (importance)."""
    # One index per cell list, for all of its experts (kept with the list it indexes).
    cached = grid.get("_index")
    if cached is None or cached[0] is not grid["cells"]:
        cached = (grid["cells"], {(c["expert"], c["sparsity"], c["last_importance"]): c
                                  for c in grid["cells"]})
        grid["_index"] = cached
    cells = cached[1]
    return [[cells.get((expert, s, li)) for li in grid["last_importance"]]
            for s in reversed(grid["sparsity"])]


def metric_range(grids: list[dict], colouring: str) -> tuple[float | None, float | None]:
    field = colouring_info(colouring)[1]
    values = [c[field] for g in grids for c in g["cells"] if c.get(field) is not None]
    return (min(values), max(values)) if values else (None, None)


def _top(values) -> float:
    present = [v for v in values if v is not None]
    return max(present) if present and max(present) > 0 else 0.0


def paint(rows: list[list[dict | None]], colouring: str, lo: float | None,
          hi: float | None) -> tuple[list[list[str | None]], str]:
    """Colours of one grid, and its caption (the maxima the paper colour divides by)."""
    field = colouring_info(colouring)[1]
    flat = [c for row in rows for c in row if c is not None]
    if is_paper(colouring):
        top_norm, top_sp = _top(c["norm"] for c in flat), _top(c[field] for c in flat)
        # phase_colour(min(1, v / top), …) in 1/1024 steps, scaled once (20,000 cells a view)
        sx, sy = (1024 / top_sp if top_sp else 0.0), (1024 / top_norm if top_norm else 0.0)
        colours = [[None if c is None else phase_colour_1024(
            min(1024, round((c[field] or 0.0) * sx)), min(1024, round((c["norm"] or 0.0) * sy)))
            for c in row] for row in rows]
        return colours, f"÷ max norm {num(top_norm, 3)}, max superposition {num(top_sp, 3)}"
    span = (hi - lo) if lo is not None and hi is not None else 0.0
    colours = [[None if c is None or c.get(field) is None else sequential(
        (c[field] - lo) / span if span > 0 else 0.0) for c in row] for row in rows]
    return colours, ""


def grid_title(setup: dict, expert: int) -> str:
    return setup_label(setup["n_features"], setup["d_hidden"], setup["n_experts"], expert)


def axes(grid: dict) -> tuple[list[str], list[str]]:
    """(y ticks per row top to bottom, x ticks per column)."""
    return _ticks(list(reversed(grid["sparsity"]))), _ticks(grid["last_importance"])


def legend_key(colouring: str) -> dict:
    """The colour key as figure data (the screen draws the same from tui.scales)."""
    if is_paper(colouring):
        return {"type": "key-grid", "colours": key_grid(phase_colour),
                "x_label": "superposition ÷ max", "y_label": "norm ÷ max"}
    return {"type": "bar", "colours": samples(sequential), "label": colouring_info(colouring)[0]}


def figure_spec(title: str, colouring: str, drawn: list[dict], lo, hi) -> dict:
    """drawn: per grid on screen {title, colours, y_ticks, x_ticks, caption}."""
    key = legend_key(colouring)
    if key["type"] == "bar":
        key.update(low=lo, high=hi)
    panels = [{"type": "grid", "title": d["title"], "colours": d["colours"],
               "x_ticks": [[i, t] for i, t in enumerate(d["x_ticks"]) if t],
               "y_ticks": [[i, t] for i, t in enumerate(d["y_ticks"]) if t],
               "x_label": X_TITLE.rstrip(" →"), "y_label": Y_TITLE,
               "caption": d.get("caption", ""), "row": d.get("row", 0),
               "marks": [list(m) for m in sorted(d.get("marks", ()))]} for d in drawn]
    return {"title": f"{title}\ncolour: {colouring_info(colouring)[0]}", "panels": panels,
            "key": key}
