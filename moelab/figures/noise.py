"""The seed-noise floor of a comparison of two phase-diagram experiments (issue 20): from a
control of A (`--control`: the same config with other seeds) when one is stored, else from the
two experiments' own seeds (engine/noise_floor.py has the arithmetic)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from moelab.engine import noise_floor as nf

CONTROL_SUFFIX = " (control of {})"


@dataclass
class Floors:
    """Per setup the floor, and one line saying where it comes from (or why there is none)."""
    by_setup: dict[tuple, nf.NoiseFloor] = field(default_factory=dict)
    note: str = ""
    control: int | None = None  # the control experiment used, if any

    def verdict(self, comparison) -> str | None:
        return nf.verdict(comparison.share, self.by_setup.get(comparison.setup))


def same_but_seed(original: str | None, control: str | None) -> bool:
    """Whether two stored configs (JSON) differ at most in name and train.seed."""
    try:
        a, b = json.loads(original or "{}"), json.loads(control or "{}")
    except ValueError:
        return False
    for d in (a, b):
        d.pop("name", None)
        if isinstance(d.get("train"), dict):
            d["train"] = {k: v for k, v in d["train"].items() if k != "seed"}
    return bool(a) and a == b


def control_of(client, experiment_id: int) -> int | None:
    """The newest finished control of the experiment whose config is its own but the seed."""
    row = client.read("experiment", experiment_id=int(experiment_id)) or {}
    for c in client.read("controls_of", experiment_id=int(experiment_id)):
        if c["status"] == "done" and same_but_seed(row.get("config"), c["config"]):
            return int(c["experiment_id"])
    return None


def floors(client, a: int, b: int, cells_a=None) -> Floors:
    """The floor for `compare a b`: A against its control when one is stored, else the seeds
    of A and B pooled per setup."""
    from moelab.engine.compare import compare

    from .cells import cells_of
    ctrl = control_of(client, a)
    if ctrl is not None and ctrl != b:
        result = compare(cells_a if cells_a is not None else cells_of(client, a),
                         cells_of(client, ctrl))
        if result:
            return Floors(nf.from_control(result), (
                f"seed noise: experiment {a} against its control {ctrl} (the same config, "
                "other seeds), the share of their cells that match; Wilson 95 % interval "
                "over the cells"), ctrl)
    by_exp = {e: nf.from_seeds(_rows(client.read("seed_stability", experiment_id=int(e))))
              for e in dict.fromkeys((a, b))}
    with_seeds = [e for e, f in by_exp.items() if f]
    if not with_seeds:
        which = f"experiment {a} has" if a == b else f"experiments {a} and {b} have"
        return Floors({}, f"no noise floor: {which} one seed per point, so seed noise "
                      f"cannot be told from a difference; {nf.HOW_TO_GET_ONE}")
    names = " and ".join(str(e) for e in with_seeds)
    return Floors(nf.merge(*by_exp.values()), (
        f"seed noise: how often a non-chosen seed's last-feature classes match the chosen "
        f"seed's (experts matched), pooled per setup over the seeds of experiment "
        f"{names}; Wilson 95 % interval over those seed comparisons"))


def _rows(cols: dict) -> list[dict]:
    from .data import as_rows
    return as_rows(cols)
