"""What the phase diagram shows, as pure data: per grid the colours, ticks and caption, the
colour key, and the same as a figure spec for export (so F3 writes what is on screen).

Layout as in the paper's figure and `moelab export figure phase-diagram`: x = last-feature
importance (left to right), y = sparsity (bottom to top). The paper colour divides norm and
superposition by their maximum over each grid (white really means "not represented");
single metrics share one scale over every grid, shown with its numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moelab.schema import PHASE_FIELDS

from .colours import phase_colour, sequential
from .format import num, setup_label
from .scales import key_grid, samples

if TYPE_CHECKING:  # numpy is imported on first use: not on the app's start
    import numpy as np

# What colours the grid: label, and the cell field (None: SPEC's two-metric colour).
COLOURINGS = {
    "paper": ("paper colour: x = superposition (j≠i), y = norm", "superposition"),
    "paper-all": ("paper colour, authors' superposition (all j)", "superposition_all"),
    **{f.name: (f.label, f.column) for f in PHASE_FIELDS},
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


def cell(grid: dict, i: int) -> dict:
    """Cell i of a grid's columns as one dict (the cell under the cursor)."""
    return {k: col[i] for k, col in grid["columns"].items()}


def n_cells(grid: dict) -> int:
    return len(grid["columns"].get("run_id", ()))


def column(grid: dict, field: str) -> np.ndarray:
    """A grid's column as floats (NULL and absent as NaN), converted once per columns."""
    import numpy as np
    cached = grid.get("_arrays")
    if cached is None or cached[0] is not grid["columns"]:
        cached = (grid["columns"], {})
        grid["_arrays"] = cached
    arrays = cached[1]
    if field not in arrays:
        values = grid["columns"].get(field)
        arrays[field] = (np.full(n_cells(grid), np.nan) if values is None
                         else np.array(values, dtype=float))
    return arrays[field]


def slots(grid: dict, expert: int) -> np.ndarray:
    """Rows (top = highest sparsity) × columns (importance) of one expert: each slot the
    position of its cell in the grid's columns, -1 where there is none."""
    import numpy as np
    # One index per columns, for all of its experts (kept with the columns it indexes).
    cached = grid.get("_index")
    if cached is None or cached[0] is not grid["columns"]:
        cached = (grid["columns"], _index(grid))
        grid["_index"] = cached
    index = cached[1]
    if expert >= len(index):
        return np.full(index.shape[1:], -1, dtype=np.int64)
    return index[expert]


def _index(grid: dict) -> np.ndarray:
    import numpy as np
    experts = grid["columns"].get("expert", [])
    n_experts = max(grid["setup"]["n_experts"], max(experts, default=-1) + 1)
    sparsity, importance = _axis(grid, "sparsity"), _axis(grid, "last_importance")
    index = np.full((n_experts, len(sparsity[0]), len(importance[0])), -1, dtype=np.int64)
    if experts:
        keep = np.flatnonzero(sparsity[2] & importance[2])
        rows = len(sparsity[0]) - 1 - sparsity[1]  # top = highest sparsity
        # a repeated slot keeps its last cell
        index[np.array(experts)[keep], rows[keep], importance[1][keep]] = keep
    return index


def _axis(grid: dict, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the grid's sorted values on an axis, each cell's position there, found or not)."""
    import numpy as np
    values = np.array(grid[field], dtype=float)
    cells = column(grid, field)
    at = np.minimum(np.searchsorted(values, cells), max(len(values) - 1, 0))
    found = values[at] == cells if len(values) else np.zeros(len(cells), dtype=bool)
    return values, at, found


def where(slot: np.ndarray, grid: dict, run_ids) -> set[tuple[int, int]]:
    """(col, row) of the slots whose cell's run is one of run_ids."""
    import numpy as np
    if not run_ids:
        return set()
    present = slot >= 0
    runs = column(grid, "run_id")[np.where(present, slot, 0)]
    hit = present & np.isin(runs, np.fromiter(run_ids, dtype=float))
    rows, cols = np.nonzero(hit)
    return set(zip(cols.tolist(), rows.tolist(), strict=True))


def metric_range(grids: list[dict], colouring: str) -> tuple[float | None, float | None]:
    """The lowest and highest value of a colouring's field over every grid (NaN and NULL
    left out)."""
    import numpy as np
    field = colouring_info(colouring)[1]
    present = [v[~np.isnan(v)] for g in grids if field in g["columns"]
               for v in [column(g, field)]]
    present = [v for v in present if v.size]
    if not present:
        return None, None
    return float(min(v.min() for v in present)), float(max(v.max() for v in present))


def prepare(grids: list[dict], colouring: str) -> None:
    """Compute what painting these grids in this colouring needs (kept in each grid, see
    painted): called by the worker that read them, so the UI thread only draws."""
    lo, hi = metric_range(grids, colouring)
    for grid in grids:
        for expert in range(grid["setup"]["n_experts"]):
            painted(grid, expert, colouring, lo, hi)


def painted(grid: dict, expert: int, colouring: str, lo: float | None,
            hi: float | None) -> tuple[list[list[str | None]], str]:
    """paint() of one expert's slots, computed once per grid columns and colouring."""
    cached = grid.get("_painted")
    if cached is None or cached[0] is not grid["columns"]:
        cached = (grid["columns"], {})
        grid["_painted"] = cached
    key = (expert, colouring, lo, hi)
    if key not in cached[1]:
        cached[1][key] = paint(grid, slots(grid, expert), colouring, lo, hi)
    return cached[1][key]


def _top(values: np.ndarray) -> float:
    import numpy as np
    present = values[~np.isnan(values)]
    return float(present.max()) if present.size and present.max() > 0 else 0.0


def _hex(codes: np.ndarray, missing: np.ndarray) -> list[list[str | None]]:
    """'#rrggbb' per slot from 24-bit codes (None where missing), each colour formatted once."""
    import numpy as np
    unique, inverse = np.unique(codes, return_inverse=True)
    names = np.array(["#%06x" % c for c in unique.tolist()] + [None],  # noqa: UP031
                     dtype=object)
    inverse = np.where(missing, len(unique), inverse.reshape(codes.shape))
    return names[inverse].tolist()


def _byte(v: np.ndarray) -> np.ndarray:
    """colours._byte over an array."""
    import numpy as np
    return np.clip(np.trunc(v * 255 + 0.5), 0, 255).astype(np.int64)


def paint(grid: dict, slot: np.ndarray, colouring: str, lo: float | None,
          hi: float | None) -> tuple[list[list[str | None]], str]:
    """Colours of one grid's slots (as colours.phase_colour and colours.sequential give
    them), and its caption (the maxima the paper colour divides by)."""
    import numpy as np
    field = colouring_info(colouring)[1]
    present = slot >= 0
    at = np.where(present, slot, 0)
    values = np.where(present, column(grid, field)[at], np.nan)
    if is_paper(colouring):
        norms = np.where(present, column(grid, "norm")[at], np.nan)
        top_norm, top_sp = _top(norms), _top(values)
        # phase_colour(min(1, v / top), …) in 1/1024 steps, scaled once (20,000 cells a view)
        sx, sy = (1024 / top_sp if top_sp else 0.0), (1024 / top_norm if top_norm else 0.0)
        xi = np.minimum(1024, np.round(np.nan_to_num(values) * sx)) / 1024
        yi = np.minimum(1024, np.round(np.nan_to_num(norms) * sy)) / 1024
        r, g, b = _byte(xi * yi + 1 - yi), _byte(1 - yi), _byte(yi * (1 - xi) + 1 - yi)
        colours = _hex((r << 16) | (g << 8) | b, ~present)
        return colours, f"÷ max norm {num(top_norm, 3)}, max superposition {num(top_sp, 3)}"
    span = (hi - lo) if lo is not None and hi is not None else 0.0
    t = np.clip((values - lo) / span if span > 0 else np.zeros_like(values), 0.0, 1.0)
    r, g, b = _byte(1 - 0.97 * t), _byte(1 - 0.81 * t), _byte(1 - 0.58 * t)
    colours = _hex((r << 16) | (g << 8) | b, np.isnan(values))
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
