"""What `export figure phase-diagram` can show besides the paper colour of the final
weights: the last feature at a snapshot step (--step N), one value on a continuous scale
(--color norm | … | metric:NAME for a custom metric), as the TUI's phase view does.

Every number comes through the client's reads (db/reads/phase_layers.py).
"""

from __future__ import annotations

import numpy as np

from moelab.schema import PHASE_FIELDS

from .data import Source, as_rows, require

# --color: the paper's two-dimensional colour, or one value per cell (its field in a row).
FIELDS = {f.name: f.column for f in PHASE_FIELDS}
LABELS = {f.name: f.label for f in PHASE_FIELDS}
METRIC = "metric:"
CMAP = "Blues"  # white (low) to dark blue (high), as the TUI's one-metric colouring


def colour_label(source: Source) -> str | None:
    """The continuous colouring's label; None for the paper colour. Bad names refused."""
    colour = source.color or "paper"
    if colour == "paper":
        return None
    if colour.startswith(METRIC):
        return f"custom metric {colour[len(METRIC):]}"
    require(colour in FIELDS, f"--color is paper, {', '.join(FIELDS)} or metric:NAME (a "
            f"custom metric), not {colour!r}")
    return LABELS[colour]


def last_feature_rows(source: Source) -> tuple[list[dict], str]:
    """The last feature of every chosen run per expert (at --step's snapshot when given),
    with "value" set for a continuous colouring; and a note saying which weights."""
    if source.step is None:
        rows, note = source.rows("figure_features", last_only=True), "final weights"
    else:
        rows, note = _at_step(source, int(source.step))
    colour = source.color or "paper"
    if colour.startswith(METRIC):
        values = _metric(source, colour[len(METRIC):])
        for r in rows:
            key = (r["run_id"], r["expert"])
            r["value"] = values.get(key, values.get((r["run_id"], None)))
    elif colour == "loss" and source.step is None:  # figure_features has no loss
        loss = {r["run_id"]: r["eval_loss"] for r in source.rows("figure_runs")}
        for r in rows:
            r["value"] = loss.get(r["run_id"])
    elif colour in FIELDS:
        for r in rows:
            r["value"] = r.get(FIELDS[colour])
    return rows, note


def _at_step(source: Source, step: int) -> tuple[list[dict], str]:
    eid = source.experiment_id
    steps = source.client.read("phase_snapshot_steps", experiment_id=eid)
    require(bool(steps), f"experiment {eid} stored no snapshots, so it has no phase diagram "
            "at a step; train with train.snapshots = N (e.g. --set train.snapshots=8)")
    require(steps[0] <= step <= steps[-1], f"experiment {eid} has no snapshot at or near step "
            f"{step}: its snapshots are at steps {', '.join(map(str, steps))}")
    rows = as_rows(source.client.read("phase_at_step", experiment_id=eid, step=step))
    shown = sorted({r["step"] for r in rows})
    at = ", ".join(map(str, shown))
    note = f"at training step {at}" + ("" if shown == [step] else
                                       f" (the snapshot nearest to step {step})")
    return rows, note


def _metric(source: Source, name: str) -> dict[tuple, float]:
    eid = source.experiment_id
    known = {m["name"]: m for m in source.client.read("phase_metrics", experiment_id=eid)}
    require(name in known, f"no custom metric named {name!r}" + (
        f" (known: {', '.join(sorted(known))})" if known else
        "; register one with `moelab metric add NAME module:function`"))
    require(known[name]["n_runs"] > 0, f"custom metric {name!r} has no values for experiment "
            f"{eid}'s runs; fill them with `moelab metric compute {name} --experiment {eid}`")
    cols = source.client.read("phase_metric", experiment_id=eid, metric=name)
    return {(r, e): v for r, e, v in zip(cols["run_id"], cols["expert"], cols["value"],
                                         strict=True)}


def value_range(panels: list[dict]) -> tuple[float, float]:
    """One scale for every panel (as the TUI): the values' min and max."""
    values = np.concatenate([p["value"].ravel() for p in panels]) if panels else np.array([])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return lo, hi if hi > lo else lo + 1e-12


def value_rgb(p: dict, lo: float, hi: float, missing: list[float]) -> np.ndarray:
    import matplotlib
    cmap = matplotlib.colormaps[CMAP]
    t = np.clip((p["value"] - lo) / (hi - lo), 0, 1)
    rgb = cmap(np.nan_to_num(t))[..., :3]
    rgb[~np.isfinite(p["value"])] = missing
    return rgb


def value_key(fig, ax, lo: float, hi: float, label: str) -> None:
    """A colour bar with the numbers the ends stand for, in the key's place."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    ax.set_visible(False)
    fig.colorbar(ScalarMappable(Normalize(lo, hi), CMAP), ax=ax, label=label, fraction=0.8)
