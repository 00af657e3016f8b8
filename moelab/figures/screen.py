"""A view of the lab exported exactly as it is on screen (F3 in the TUI).

The TUI describes what it draws as a plain dict (a "screen spec"): the colours of every cell
it painted, its ticks and titles, the curves it plotted, and its colour key with numbers.
This module only lays that out with matplotlib; it computes nothing, so the file cannot
disagree with the screen.

    {"title": str, "key": KEY | None, "panels": [PANEL, ...]}
    PANEL = {"type": "grid", "title", "colours": [[hex | None]] (row 0 on top),
             "x_ticks": [[col, label]], "y_ticks": [[row, label]], "x_label", "y_label",
             "caption", "row": int (panels with the same row share a line),
             "marks"?: [[col, row]] (cells drawn with an ×)}
          | {"type": "lines", "title", "x_label", "y_label", "log_x": bool,
             "series": [{"label", "colour", "x", "y", "lo"?, "hi"?}]}
          | {"type": "bars", "title", "labels": [str], "values": [float], "colours": [hex]}
          | {"type": "table", "title", "columns": [str], "rows": [[str]]}
    KEY = {"type": "bar", "colours": [hex], "low", "high", "label"}
        | {"type": "diverging", "colours": [hex], "vmax", "label"}
        | {"type": "key-grid", "colours": [[hex]], "x_label", "y_label"}
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from .data import FigureError

MISSING = "#3a3a3a"  # the TUI's colour of a cell without a run
SUFFIXES = (".png", ".svg", ".pdf")


def _rgb(colour: str | None) -> tuple[float, float, float]:
    c = colour or MISSING
    return tuple(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _rows(panels: list[dict]) -> list[list[dict]]:
    rows: dict[int, list[dict]] = {}
    for i, p in enumerate(panels):
        rows.setdefault(int(p.get("row", i if p["type"] != "grid" else 0)), []).append(p)
    return [rows[k] for k in sorted(rows)]


def draw(spec: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = spec.get("panels") or []
    if not panels:
        raise FigureError("this view shows nothing to export yet")
    rows = _rows(panels)
    key = spec.get("key")
    n_cols = max(len(r) for r in rows) + (1 if key else 0)
    height = sum(2.2 if any(p["type"] == "table" for p in r) else 1.9 for r in rows) + 0.7
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(min(2.3 * n_cols + 0.6, 14), height),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_visible(False)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            ax = axes[r, c]
            ax.set_visible(True)
            DRAW[panel["type"]](ax, panel)
    if key:
        _key(fig, axes[0, n_cols - 1], key)
    width = fig.get_figwidth()
    for ax in axes.flat:  # the panels' own titles, wrapped to the panel
        if ax.get_visible() and ax.get_title():
            ax.set_title(export_title(ax.get_title(), width / n_cols, ax.title.get_fontsize()))
    title = fig.suptitle(spec.get("title", ""))
    title.set_text(export_title(title.get_text(), width, title.get_fontsize()))
    return fig


# The TUI's key hints in a title ("(, . step through 8 snapshots)", "; , earlier · . later…"):
# keys mean nothing in a file.
_HINTS = (re.compile(r"\s*\((?:,\s*\.|[^()]*\bstep through\b)[^()]*\)"),
          re.compile(r";\s*,\s*earlier[^)\n]*"))


def export_title(text: str, width_inches: float, points: float) -> str:
    """A title for a file: the key hints dropped, each line wrapped to the width it has
    (about 0.6 em a character), so no title runs off the canvas."""
    for hint in _HINTS:
        text = hint.sub("", text)
    chars = max(16, int(width_inches * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(line, chars) if line else line for line in text.split("\n"))


def _grid(ax, p: dict) -> None:
    import numpy as np
    img = np.array([[_rgb(c) for c in row] for row in p["colours"]])
    ax.imshow(img, aspect="equal", interpolation="nearest")
    ax.set_title(p.get("title", ""))
    ax.set_xticks([t[0] for t in p.get("x_ticks", [])])
    ax.set_xticklabels([t[1] for t in p.get("x_ticks", [])])
    ax.set_yticks([t[0] for t in p.get("y_ticks", [])])
    ax.set_yticklabels([t[1] for t in p.get("y_ticks", [])])
    ax.set_xlabel(p.get("x_label", "") + (f"\n{p['caption']}" if p.get("caption") else ""))
    ax.set_ylabel(p.get("y_label", ""))
    if p.get("marks"):  # cells the view marks (the phase diagram's unstable points)
        xs, ys = zip(*p["marks"], strict=True)
        ax.scatter(xs, ys, s=6, c="black", marker="x", linewidths=0.6)


def _lines(ax, p: dict) -> None:
    for s in p.get("series", []):
        ax.plot(s["x"], s["y"], color=s.get("colour"), label=s.get("label"), linewidth=1)
        if s.get("lo") and s.get("hi"):
            ax.fill_between(s["x"], s["lo"], s["hi"], color=s.get("colour"), alpha=0.2,
                            linewidth=0)
    if p.get("log_x"):
        ax.set_xscale("log")
    ax.set_title(p.get("title", ""))
    ax.set_xlabel(p.get("x_label", ""))
    ax.set_ylabel(p.get("y_label", ""))
    if any(s.get("label") for s in p.get("series", [])):
        ax.legend(frameon=False)


def _bars(ax, p: dict) -> None:
    labels = p.get("labels", [])
    ax.barh(range(len(labels)), p.get("values", []), color=p.get("colours"))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_title(p.get("title", ""))


def _table(ax, p: dict) -> None:
    ax.axis("off")
    ax.set_title(p.get("title", ""))
    if p.get("rows"):
        table = ax.table(cellText=p["rows"], colLabels=p.get("columns"), loc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(6)


def _key(fig, ax, key: dict) -> None:
    import numpy as np
    from matplotlib.colors import ListedColormap, Normalize
    ax.set_visible(True)
    if key["type"] == "key-grid":
        img = np.array([[_rgb(c) for c in row] for row in key["colours"]])
        ax.imshow(img, extent=(0, 1, 0, 1), aspect="equal", interpolation="nearest")
        ax.set_xlabel(key.get("x_label", ""))
        ax.set_ylabel(key.get("y_label", ""))
        ax.set_xticks([0, 1])
        ax.set_yticks([0, 1])
        ax.set_title("colour key")
        return
    ax.set_visible(False)
    cmap = ListedColormap([_rgb(c) for c in key["colours"]])
    if key["type"] == "diverging":
        lo, hi = -float(key.get("vmax") or 1.0), float(key.get("vmax") or 1.0)
    else:
        lo, hi = float(key.get("low") or 0.0), float(key.get("high") or 0.0)
        hi = hi if hi > lo else lo + 1e-12
    from matplotlib.cm import ScalarMappable
    fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap), ax=ax, label=key.get("label", ""),
                 fraction=0.8)


DRAW = {"grid": _grid, "lines": _lines, "bars": _bars, "table": _table}


def export_spec(spec: dict, out: str | Path, dpi: int = 200) -> Path:
    """Write the view to out (.png, .svg or .pdf), whole or not at all."""
    from .render import _write_whole
    from .style import RC
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise FigureError(f"a view exports to {' / '.join(SUFFIXES)}, not {out.name!r}")
    if not out.parent.is_dir():
        raise FigureError(f"cannot write {out}: directory {out.parent} does not exist")
    import matplotlib.pyplot as plt
    with plt.rc_context(RC):
        fig = draw(spec)
        try:
            _write_whole(out, lambda tmp: fig.savefig(tmp, dpi=dpi, format=out.suffix[1:]))
        finally:
            plt.close(fig)
    return out
