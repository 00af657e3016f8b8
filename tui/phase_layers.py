"""What the phase diagram lays over its final grids, as pure data: seed stability (unstable
cells marked), the last feature at a snapshot step instead of the final weights, custom
metrics as colourings, and a title that says what the diagram is (trained or imported, how
many seeds, which step).

The screen keeps the final grids as read (tui/screens/phase.py); `apply` returns copies
with the layers merged into each cell, keyed by (run_id, expert).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.markup import escape

from moelab.figures.data import imported_text
from moelab.schema import PHASE_FIELDS

from . import phase_model as pm
from .format import num

UNSTABLE = 0.5  # a point where at most this share of its seeds match the chosen one
MARK = "?"  # drawn in an unstable cell
METRIC = "metric:"  # colouring prefix of a custom metric


@dataclass
class Layers:
    experiment: int | None = None
    stability: dict[int, tuple[int, float]] = field(default_factory=dict)  # run -> (n, share)
    steps: list[int] = field(default_factory=list)  # snapshot steps of the chosen runs
    step: int | None = None  # the step shown; None: the final weights
    at_step: dict | None = None  # phase_at_step columns for `step`
    metrics: list[dict] = field(default_factory=list)  # phase_metrics
    values: dict[str, dict] = field(default_factory=dict)  # metric -> {(run, expert): value}
    source: dict | None = None  # import_source: None for a trained experiment


def read(lab, experiment: int, step: int | None, metric: str | None) -> dict:
    """Everything the layers need, in one worker call."""
    out = {"experiment": experiment,
           "stability": lab.read("phase_stability", experiment_id=experiment),
           "steps": lab.read("phase_snapshot_steps", experiment_id=experiment),
           "metrics": lab.read("phase_metrics", experiment_id=experiment),
           "source": lab.read("import_source", experiment_id=experiment)}
    if step is not None:
        out["step"], out["at_step"] = step, read_step(lab, experiment, step)
    if metric is not None:
        out["values"] = {metric: read_metric(lab, experiment, metric)}
    return out


def read_step(lab, experiment: int, step: int) -> dict:
    return lab.read("phase_at_step", experiment_id=experiment, step=step)


def read_metric(lab, experiment: int, name: str) -> dict:
    cols = lab.read("phase_metric", experiment_id=experiment, metric=name)
    return {(r, e): v for r, e, v in zip(cols.get("run_id", []), cols.get("expert", []),
                                          cols.get("value", []), strict=True)}


def absorb(layers: Layers, value: dict) -> Layers:
    """The layers after a read(); a new experiment starts from the final weights."""
    if value["experiment"] != layers.experiment:
        layers = Layers(experiment=value["experiment"])
    s = value["stability"]
    layers.stability = {r: (n, share) for r, n, share in zip(
        s.get("run_id", []), s.get("n_seeds", []), s.get("stability", []), strict=True)}
    layers.steps, layers.metrics = value["steps"], value["metrics"]
    layers.source = value["source"]
    if "at_step" in value and value["step"] == layers.step:  # not stepped on meanwhile
        layers.at_step = value["at_step"]
    layers.values.update(value.get("values", {}))
    return layers


# -- colourings --------------------------------------------------------------------------
def colourings(layers: Layers) -> dict[str, tuple[str, str]]:
    """The built-in colourings, then one per custom metric (continuous, one scale)."""
    out = dict(pm.COLOURINGS)
    for m in layers.metrics:
        shape = f", {m['shape']}" if m["shape"] else ", no values here"
        out[METRIC + m["name"]] = (f"custom metric {m['name']}{shape}", METRIC + m["name"])
    return out


def metric_name(colouring: str) -> str | None:
    return colouring[len(METRIC):] if colouring.startswith(METRIC) else None


# -- merging -----------------------------------------------------------------------------
def apply(grids: list[dict], layers: Layers) -> list[dict]:
    """Copies of the final grids (same setups and axes) with the cells of the snapshot step
    and the custom metrics' values merged into their columns; the grids themselves when
    neither is shown. (Seed stability is looked up by run instead: it never changes a
    colour.)"""
    if layers.step is None and not layers.values:
        return grids
    step = _step_rows(layers) if layers.step is not None else None
    out = []
    for g in grids:
        cols = g["columns"]
        keys = list(zip(cols.get("run_id", []), cols.get("expert", []), strict=True))
        if step is not None:
            # a run without a snapshot there is dropped: drawn as a missing cell
            at = [step.get(k) for k in keys]
            kept = [i for i, j in enumerate(at) if j is not None]
            cols = {f: [v[i] for i in kept] for f, v in cols.items()}
            at = [at[i] for i in kept]
            keys = [keys[i] for i in kept]
            shown = layers.at_step or {}
            cols.update({f: [shown[f][j] for j in at] for f in _STEP_FIELDS})
        else:
            cols = dict(cols)
        for name, values in layers.values.items():
            cols[METRIC + name] = [values.get(k, values.get((k[0], None))) for k in keys]
        out.append({**{k: v for k, v in g.items() if not k.startswith("_")},
                    "columns": cols})
    return out


_STEP_FIELDS = (*(f.column for f in PHASE_FIELDS if f.per_step), "monosemantic", "step")


def _step_rows(layers: Layers) -> dict[tuple, int]:
    """(run, expert) -> its position in the snapshot step's columns."""
    cols = layers.at_step or {}
    keys = zip(cols.get("run_id", []), cols.get("expert", []), strict=True)
    return {k: i for i, k in enumerate(keys)}


def unstable(layers: Layers, run_id: int) -> bool:
    n, share = layers.stability.get(run_id, (1, 1.0))
    return n > 1 and share <= UNSTABLE


def unstable_runs(layers: Layers) -> frozenset[int]:
    # Once per stability read: paint asks for every grid (10,000 runs each time).
    cached = layers.__dict__.get("_unstable")
    if cached is None or cached[0] is not layers.stability:
        cached = (layers.stability, frozenset(  # unstable(), inline: 10,000 calls
            r for r, (n, share) in layers.stability.items() if n > 1 and share <= UNSTABLE))
        layers._unstable = cached
    return cached[1]


def flagged(grid: dict, slot, layers: Layers) -> set[tuple[int, int]]:
    """(col, row) of the unstable cells of one grid's slots (phase_model.slots)."""
    return pm.where(slot, grid, unstable_runs(layers))


# -- text --------------------------------------------------------------------------------
def step_label(layers: Layers, hints: bool = True) -> str:
    """Which weights are shown; with hints, the keys that step through them (the screen's,
    not an exported figure's)."""
    if layers.step is None:
        if not layers.steps or not hints:
            return "final weights"
        return f"final weights (, . step through {len(layers.steps)} snapshots)"
    shown = sorted({s for s in (layers.at_step or {}).get("step", [])})
    at = shown[0] if len(shown) == 1 else layers.step
    where = f"snapshot {layers.steps.index(layers.step) + 1} of {len(layers.steps)}"
    if hints:
        where += "; , earlier · . later, past the last: final"
    return f"at training step {at} ({where})"


def title(experiment: int | None, name: str, layers: Layers, state: str = "",
          hints: bool = True) -> str:
    """What the diagram is, in a line or two: which experiment and how far it is trained
    (state), how its points were chosen, which step."""
    state = f" ({escape(state)})" if state else ""
    head = (f"[b]experiment {experiment} {escape(brief(name))}[/b]{state}: last feature, "
            f"{step_label(layers, hints)}")
    if layers.source is not None:
        return f"{head} · {escape(imported_brief(layers.source))}"
    seeds = max((n for n, _ in layers.stability.values()), default=1)
    return head + (f" · best of {seeds} seeds per point" if seeds > 1
                   else " · one run per point")


def brief(name: str, most: int = 40) -> str:
    """A name cut for a title line (an import's lists every file; the picker shows it)."""
    return name if len(name) <= most else name[:most - 1] + "…"


def imported_brief(info: dict) -> str:
    """The authors' files and seeds in a few words (figures.data.imported_text is the
    full sentence): every file's save time made the title seven lines long."""
    files = info.get("files") or []
    if len(files) <= 2:  # one or two: named, as imported_text names them
        return imported_text(info).replace(" (only its weights are in the file)", "")
    saved = sorted(str(f.get("saved_at"))[:10] for f in files)
    span = saved[0] if saved[0] == saved[-1] else f"{saved[0]} – {saved[-1]}"
    known = [n for n in info.get("seeds", []) if n]
    seeds = ("seeds per cell not in the files" if not known else
             f"their best of {known[0] if len(known) == 1 else f'{min(known)}–{max(known)}'}"
             " seeds per cell")
    return f"imported from the authors' {len(files)} files (saved {span}): {seeds}"


def stability_line(grids: list[dict], layers: Layers) -> str:
    """The legend's line on seed stability (empty when every point has one seed)."""
    runs = {r for g in grids for r in g["columns"].get("run_id", ())}
    multi = [r for r in runs if layers.stability.get(r, (1, 1.0))[0] > 1]
    if not multi:
        return ""
    n_bad = sum(unstable(layers, r) for r in multi)
    where = ("" if layers.step is None else
             " (of the final weights; shown at the final step only)")
    return (f"[b]{MARK}[/b] unstable point: at most {UNSTABLE:.0%} of its seeds end in the chosen "
            f"seed's last-feature classes · {n_bad} of {len(multi)} points unstable{where}")


def cell_line(cell: dict, colouring: str, layers: Layers) -> str:
    """The cursor line's part on layers: seeds and stability, step, a metric's value."""
    parts = []
    n, share = layers.stability.get(cell["run_id"], (1, 1.0))
    if n > 1:
        flag = " [b]unstable[/b]" if unstable(layers, cell["run_id"]) else ""
        parts.append(f"seeds {n} stability {num(share, 2)}{flag}")
    else:
        parts.append("seeds 1")
    if cell.get("step") is not None:
        parts.append(f"step {cell['step']}")
    name = metric_name(colouring)
    if name is not None:
        parts.append(f"{name} {num(cell.get(colouring))}")
    return "  │ " + "  ".join(parts)
