"""What every figure needs: its experiment's reads, setups with readable labels, seed bands."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moelab.errors import UsageError

# Columns that identify a model setup inside an experiment (db.reads.figures.SETUP_COLUMNS).
SETUP = ("kind", "n_features", "d_hidden", "n_experts", "k", "gating", "router_init")

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom, then the normal's.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


class FigureError(UsageError):
    """The experiment cannot make this figure (or the output cannot be written)."""


@dataclass
class Source:
    """One experiment seen through a lab client (service or direct): reads return plain lists."""
    client: Any
    experiment_id: int
    experiment: dict
    expert: int | None = None
    metric: str | None = None
    run_id: int | None = None
    against: int | None = None  # the second experiment of a comparison (phase-diff)
    step: int | None = None  # phase-diagram: the snapshot step to draw (None: final)
    color: str | None = None  # phase-diagram: paper (default), a metric, metric:NAME
    stability: bool = False  # phase-diagram: mark unstable points

    def rows(self, read: str, **params) -> list[dict]:
        cols = self.client.read(read, experiment_id=self.experiment_id, **params)
        return as_rows(cols)

    @property
    def title(self) -> str:
        e = self.experiment
        return f"experiment {self.experiment_id}: {e.get('name') or e.get('preset') or ''}"


def as_rows(cols: dict[str, list]) -> list[dict]:
    names = list(cols)
    if not names:
        return []
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def setup_key(row: dict) -> tuple:
    return tuple(row[c] for c in SETUP)


def setup_order(key: tuple) -> tuple:
    kind, n, m, E, k, gating, init = key
    return (kind != "dense", n, E, k, m, gating, init)


def setup_label(key: tuple, varying: set[str] | None = None) -> str:
    """`dense m=6`, `MoE E=4 k=1 m=5`; router init and gating only when they vary."""
    kind, n, m, E, k, gating, init = key
    label = f"dense m={m}" if kind == "dense" else f"MoE E={E} k={k} m={m}"
    varying = varying or set()
    if "n_features" in varying:
        label = f"n={n} " + label
    if "router_init" in varying and kind != "dense":
        label += f", {init} router"
    if "gating" in varying:
        label += f", {gating} gate"
    return label


def varying_columns(rows: list[dict]) -> set[str]:
    return {c for c in SETUP if len({r[c] for r in rows}) > 1}


def group(rows: Iterable[dict], key: Callable[[dict], Any]) -> dict[Any, list[dict]]:
    out: dict[Any, list[dict]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def by_setup(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups = group(rows, setup_key)
    return {k: groups[k] for k in sorted(groups, key=setup_order)}


def mean_ci(values: Iterable[float | None]) -> tuple[float, float, int]:
    """Mean, half-width of its 95% confidence interval (Student's t), number of values.
    One value has no interval: half-width 0."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(v) / n
    if n == 1:
        return mean, 0.0, 1
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.960
    return mean, t * sd / math.sqrt(n), n


def seeds_note(source: Source, rows: list[dict], per: Callable[[dict], Any]) -> str:
    """How many seeds stand behind each plotted point, said the way a reviewer asks."""
    if source.experiment.get("preset") == "import":
        return imported_note(source)
    counts = sorted({len(g) for g in group(rows, per).values()})
    best_of = max((p["n_seeds"] for p in source.rows("figure_points")), default=1)
    if counts == [1]:
        if best_of > 1:
            return f"one run per point (best of {best_of} seeds), no band"
        return "single seed per point, no band"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"mean of n = {n} seeds per point, band = 95% CI"


def imported_note(source: Source) -> str:
    """An imported experiment said as what it is: the authors' files and their seeds."""
    info = source.client.read("import_source", experiment_id=source.experiment_id) or {}
    return f"{imported_text(info)}, no band"


def imported_text(info: dict) -> str:
    """The authors' file(s) an experiment came from and the seeds it says (the TUI's phase
    title says the same). Three files or more are named by their first and last, with the
    span of their save times: every file's time made a title of seven lines."""
    listed = info.get("files", [])
    files = ", ".join(f"{f.get('file')} (saved {f.get('saved_at')})"
                      for f in listed) or "a file"
    if len(listed) > 2:
        saved = sorted(str(f.get("saved_at"))[:10] for f in listed)
        span = saved[0] if saved[0] == saved[-1] else f"{saved[0]} – {saved[-1]}"
        files = (f"{len(listed)} files {listed[0].get('file')} … {listed[-1].get('file')} "
                 f"(saved {span})")
    known = [s for s in info.get("seeds", []) if s]
    if not known:
        seeds = "how many seeds the authors trained per cell is not in the file"
    else:
        n = str(known[0]) if len(known) == 1 else f"{min(known)}–{max(known)}"
        seeds = f"the authors' best of {n} seeds per cell (only its weights are in the file)"
    return f"imported from the authors' {files}: {seeds}"


def require(condition: bool, message: str) -> None:
    if not condition:
        raise FigureError(message)
