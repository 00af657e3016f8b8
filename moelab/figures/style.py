"""The paper's look: colours from SPEC, small fonts that stay readable at column width."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Feature-norm bars (the paper's Figures 1-2 and 5): monosemantic purple, superposition green.
MONOSEMANTIC = "#7b2cbf"
SUPERPOSITION = "#2a9d45"
DENSE = "#222222"
# Curves of MoE setups and routed regions of experts: distinct and colour-blind friendly.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
           "#999999", "#882255", "#44aa99")
MISSING = "#d9d9d9"
GRAM_CMAP = "RdBu_r"  # red positive, blue negative interference, white 0

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0

RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "legend.fontsize": 6, "figure.titlesize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03, "figure.dpi": 100, "svg.fonttype": "none",
}


def figure(n_rows: int, n_cols: int, width: float = PAGE_WIDTH, panel_height: float = 1.6,
           **kw):
    """A grid of panels; the figure grows with its rows, never wider than a page.
    Draw and save inside `plt.rc_context(RC)` (export does) so every text gets the style."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, panel_height * n_rows + 0.5),
                             squeeze=False, layout="constrained", **kw)
    return fig, axes


def curve_colour(i: int, dense: bool) -> str:
    return DENSE if dense else PALETTE[i % len(PALETTE)]


def phase_rgb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SPEC's phase colour from superposition x and norm y in [0, 1]:
    white = not represented, blue = monosemantic, red = superposition."""
    return np.stack([x * y + 1 - y, 1 - y, y * (1 - x) + 1 - y], axis=-1)
