"""Routed regions (the paper's Figure 7 / fig5): for an n = 2 model, which expert each point
of the input quadrant [0, 1]² routes to under top-1 routing (argmax of router · x)."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .data import Source, require, setup_key, setup_label, varying_columns
from .style import COLUMN_WIDTH, PALETTE, figure

GRID = 201


def regions(router: np.ndarray, grid: int = GRID) -> np.ndarray:
    """Expert index per grid point of [0,1]², rows = x_1, columns = x_0. Ties go to the lower
    index (np.argmax takes the first maximum), so a zero router sends everything to expert 0."""
    u = np.linspace(0, 1, grid)
    x0, x1 = np.meshgrid(u, u)
    x = np.stack([x0.ravel(), x1.ravel()], 1)  # (grid², 2)
    return np.argmax(x @ router.T, axis=1).reshape(grid, grid)


def routed_runs(source: Source) -> list[dict]:
    """The chosen n = 2 MoE runs with their router (E, 2) and regions. Shared with the report."""
    runs = [r for r in source.rows("figure_runs") if r["n_features"] == 2 and r["n_experts"] > 1]
    require(bool(runs), f"experiment {source.experiment_id} has no MoE run with n_features = 2; "
            "routed regions are drawn for n = 2 (e.g. `moelab run fig5 --quick`)")
    if source.run_id is not None:
        runs = [r for r in runs if r["run_id"] == source.run_id]
        require(bool(runs), f"run {source.run_id} is not a chosen n = 2 MoE run of "
                f"experiment {source.experiment_id}")
    w = source.client.read("figure_weights", run_ids=[r["run_id"] for r in runs])
    routers: dict[int, list] = {}
    for rid, e, row in zip(w["run_id"], w["expert"], w["router"], strict=True):
        routers.setdefault(rid, []).append((e, row))
    for r in runs:
        r["router"] = np.array([row for _, row in sorted(routers[r["run_id"]])], dtype=float)
        r["regions"] = regions(r["router"])
        r["share"] = [float((r["regions"] == e).mean()) for e in range(r["n_experts"])]
    return runs


def draw(source: Source):
    runs = routed_runs(source)
    varying = varying_columns(runs) | {"router_init"}
    n_cols = min(len(runs), 4)
    n_rows = -(-len(runs) // n_cols)
    fig, axes = figure(n_rows, n_cols, width=max(COLUMN_WIDTH, 1.9 * n_cols),
                       panel_height=2.0)
    E = max(r["n_experts"] for r in runs)
    cmap = ListedColormap([PALETTE[e % len(PALETTE)] for e in range(E)])
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, runs, strict=False):
        ax.imshow(r["regions"], origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=-0.5,
                  vmax=E - 0.5, interpolation="nearest")
        ax.set_title(f"{setup_label(setup_key(r), varying)}\nrun {r['run_id']}, "
                     f"loss {r['eval_loss']:.3g}")
        ax.set_xlabel("$x_0$ (feature 0)")
        ax.set_ylabel("$x_1$ (feature 1)")
        ax.set_aspect("equal")
    handles = [Patch(color=PALETTE[e % len(PALETTE)], label=f"expert {e}") for e in range(E)]
    fig.legend(handles=handles, loc="outside lower center", ncol=E, frameon=False)
    fig.suptitle(f"Expert each input routes to (top-1, ties → lower index) — {source.title}")
    return fig
