"""The paper's experiments (SPEC's table), each a preset with a --quick form.

A preset is a TOML-shaped dict, so `--set` and `--sweep` apply to it exactly as to a file.
The quick form keeps every shape and shrinks the grid, seeds and steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import Config, ConfigError, from_dict, with_overrides
from .sweep import count_models


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    build: Callable[[bool], dict]  # quick -> raw config

    def raw(self, quick: bool = False) -> dict:
        raw = self.build(quick)
        raw.setdefault("train", {}).setdefault("snapshots", PRESET_SNAPSHOTS)
        return raw


# Training dynamics recorded by every paper preset: the snapshot hook, dynamics and MoE Lens
# cost 1-6 % of training at 8 (benchmarks/dynamics.py); a full fig4 grows by about 0.5 GB.
PRESET_SNAPSHOTS = 8


def _r(values, nd: int = 4) -> list[float]:
    return [round(float(v), nd) for v in values]


def _tms_classic(quick: bool) -> dict:
    densities = np.geomspace(1.0, 0.001, 8 if quick else 20)
    return {
        "model": {"kind": "dense", "n_features": 20, "d_hidden": 5},
        "data": {"importance": {"decay": 0.7}},
        "train": {"steps": 2000 if quick else 10_000, "seeds": 1 if quick else 3},
        "sweep": {"data.sparsity": _r(1 - densities, 6)},
    }


def _fig1_2(quick: bool) -> dict:
    return {
        "model": {"kind": "moe", "n_features": 20, "k": 1},
        "data": {"sparsity": 0.9, "importance": {"decay": 0.7}},
        "train": {"steps": 2000 if quick else 10_000, "seeds": 2 if quick else 5},
        "sweep": {"variants": [
            {"model": {"kind": "dense", "d_hidden": 6}},
            {"model": {"n_experts": 2, "d_hidden": 3}},
            {"model": {"n_experts": 3, "d_hidden": 2}},
        ]},
    }


def _fig3(quick: bool) -> dict:
    densities = np.linspace(1.0, 0.1, 6 if quick else 30)
    return {
        "model": {"kind": "moe", "n_features": 100, "k": 1},
        "data": {"importance": "uniform"},
        "train": {"steps": 1000 if quick else 10_000, "seeds": 1 if quick else 5,
                  "select": "all", "batch_size": 256 if quick else 1024},
        "sweep": {
            "data.sparsity": _r(1 - densities),
            "variants": [
                {"model": {"kind": "dense", "d_hidden": 20}},
                {"model": {"n_experts": 4, "k": 1, "d_hidden": 5}},
                {"model": {"n_experts": 10, "k": 2, "d_hidden": 2}},
                {"model": {"n_experts": 20, "k": 5, "d_hidden": 1}},
            ],
        },
    }


FIG4_SETUPS = {"A": (2, 1), "B": (3, 1), "C": (3, 2)}  # setup -> (n_features, d_hidden)


def _on_grid(full: np.ndarray, quick: bool, n: int = 5) -> np.ndarray:
    """The quick grid is a subset of the full one (the authors' grid), so a --quick run still
    shares its cells with the published data (`moelab compare`)."""
    return full[np.linspace(0, len(full) - 1, n).round().astype(int)] if quick else full


def _fig4(quick: bool) -> dict:
    sparsities = _on_grid(np.linspace(0.025, 0.975, 39), quick)
    last = _on_grid(np.linspace(0.10, 2.95, 58), quick)
    variants = []
    for n, m in FIG4_SETUPS.values():
        for E in range(1, n + 1):
            model = {"n_features": n, "d_hidden": m, "n_experts": E, "k": 1}
            if E == 1:
                model["kind"] = "dense"
            variants.append({"model": model})
    return {
        # random ties: at high sparsity most inputs are all-zero and tie every expert; sending
        # them all to expert 0 skews which expert holds the last feature away from the
        # authors' published diagrams (docs/fidelity.md)
        "model": {"kind": "moe", "tie_break": "random"},
        "data": {"importance": "uniform"},
        "train": {"steps": 1000 if quick else 5000, "batch_size": 512, "lb_coef": 0.01,
                  "seeds": 2 if quick else 10, "select": "best"},
        "sweep": {"data.sparsity": _r(sparsities), "data.last_importance": _r(last),
                  "variants": variants},
    }


def _fig5(quick: bool) -> dict:
    return {
        "model": {"kind": "moe", "n_features": 2, "d_hidden": 1, "n_experts": 3, "k": 1},
        "data": {"sparsity": 0.5},
        "train": {"steps": 2000 if quick else 10_000, "batch_size": 100},
        "sweep": {"model.router_init": ["zeros", "xavier", "diagonal"]},
    }


def _fig6_init(quick: bool) -> dict:
    return {
        "model": {"kind": "moe", "n_features": 20, "d_hidden": 5, "n_experts": 4, "k": 1},
        "data": {"sparsity": 0.91, "importance": {"decay": 0.7}},
        "train": {"steps": 2000 if quick else 10_000, "seeds": 1 if quick else 5},
        "sweep": {"variants": [
            {"model": {"router_init": "diagonal"}},
            {"model": {"router_init": "ordered_khot"}},
            {"model": {"router_init": "random_khot"},
             "data": {"importance": {"decay": 0.7, "permute": True}}},
        ]},
    }


def _table1(quick: bool) -> dict:
    return {
        "model": {"kind": "moe", "n_features": 100, "d_hidden": 10, "n_experts": 10, "k": 1},
        "data": {"sparsity": 0.9, "importance": {"decay": 0.9, "permute": True}},
        "train": {"steps": 1000 if quick else 10_000, "seeds": 10 if quick else 100,
                  "select": "all"},
        "sweep": {"model.router_init": ["xavier", "random_khot"]},
    }


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("tms-classic", "Elhage's dense n=20, m=5, I=0.7^i over densities 1 .. 0.001",
           _tms_classic),
    Preset("fig1-2", "n=20, I=0.7^i, density 0.1: dense m=6 vs MoE (E=2, m=3) and (E=3, m=2)",
           _fig1_2),
    Preset("fig3", "n=100 over 30 densities: dense m=20 vs MoE (E,k,m) = (4,1,5), (10,2,2), "
           "(20,5,1); features per dimension and loss vs sparsity", _fig3),
    Preset("fig4", "phase diagrams: setups A (n=2,m=1), B (n=3,m=1), C (n=3,m=2), E=1..n, "
           "sparsity x last-feature importance, best of seeds", _fig4),
    Preset("fig5", "n=2, m=1, E=3, S=0.5: router init zeros / xavier / diagonal and the "
           "regions each expert routes", _fig5),
    Preset("fig6-init", "n=20, m=5, E=4, density 0.09: routers diagonal / ordered 5-hot / "
           "random 5-hot with permuted importance", _fig6_init),
    Preset("table1", "n=100, m=10, E=10, density 0.1, I=0.9^perm: xavier vs random 10-hot "
           "routers, Table 1 per init", _table1),
]}


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError([f"unknown preset {name!r}; presets: {', '.join(PRESETS)} "
                           "(see `moelab presets`)"])
    return PRESETS[name]


def build_config(preset: str | None = None, raw: dict | None = None, quick: bool = False,
                 sets=(), sweeps=()) -> Config:
    """A validated Config from a preset or a raw (TOML) dict, with --set/--sweep applied."""
    if preset is not None:
        raw = get(preset).raw(quick)
        name = preset + (" --quick" if quick else "")
    else:
        name = str((raw or {}).get("name", "experiment"))
    raw = with_overrides(raw or {}, sets, sweeps)
    raw.pop("name", None)
    return from_dict(raw, name=name)


def sizes(name: str) -> tuple[int, int]:
    """Number of models in the full and the quick form."""
    p = get(name)
    return (count_models(from_dict(p.raw(False))), count_models(from_dict(p.raw(True))))


# -- crosscoder presets (`moelab crosscode --preset NAME`) -------------------------------------

@dataclass(frozen=True)
class CrosscoderPreset:
    """A dense and MoE models trained on the same data (a toy experiment), then crosscoders
    that diff each MoE run against the dense run of its seed (a crosscoder experiment)."""
    name: str
    summary: str
    models: Callable[[bool], dict]  # quick -> raw toy config
    crosscoder: Callable[[bool], dict]  # quick -> raw crosscoder config, less its [source]


def _cc_fig3_models(quick: bool) -> dict:
    raw = _fig3(quick)  # fig3's shapes at its sparsest density, where superposition is
    raw["sweep"]["data.sparsity"] = [0.9]
    raw["train"]["seeds"] = 1 if quick else 3
    return raw


def _cc(n_latents: int, k: int, n_shared: int):
    def build(quick: bool) -> dict:
        return {"family": "crosscoder",
                "crosscoder": {"n_latents": n_latents, "k": k, "n_shared": n_shared},
                "train": {"steps": 500 if quick else 2000}}
    return build


CROSSCODER_PRESETS: dict[str, CrosscoderPreset] = {p.name: p for p in [
    CrosscoderPreset("fig1-2", "fig1-2's models (n=20, dense m=6, MoE E=2 m=3 and E=3 m=2), "
                     "then a 40-latent crosscoder (k=2) per MoE run and seed",
                     _fig1_2, _cc(40, 2, 5)),
    CrosscoderPreset("fig3", "fig3's n=100 models at density 0.1 (dense m=20, MoE (E,k,m) = "
                     "(4,1,5), (10,2,2), (20,5,1)), then a 200-latent crosscoder (k=10) each",
                     _cc_fig3_models, _cc(200, 10, 25)),
]}


def crosscoder_sizes(name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(models, crosscoders) of a crosscoder preset in its full and its quick form: one
    crosscoder per MoE run that has a dense run of the same seed and data to diff."""
    from .sweep import expand
    p = CROSSCODER_PRESETS[name]
    out = []
    for quick in (False, True):
        runs = expand(from_dict(p.models(quick)))
        dense = {(r.seed, repr(r.data)) for r in runs if r.model.kind == "dense"}
        pairs = sum(1 for r in runs if r.model.kind == "moe" and (r.seed, repr(r.data)) in dense)
        seeds = int(p.crosscoder(quick).get("train", {}).get("seeds", 1))
        out.append((len(runs), pairs * seeds))
    return out[0], out[1]
