"""The crosscoder family: BatchTopK crosscoders that diff a dense and an MoE toy model.

A crosscoder experiment's runs are (pair of stored runs) x (crosscoder seed). Planning needs
the store (the lab service plans): it resolves the pairs, checks them, and puts each unit's
inputs, the two runs' weights and data settings, into the Unit itself, so a worker (a local
process or a Dask worker) trains it without ever opening the database. Each crosscoder is
stored as a runs row of kind 'crosscoder' plus its own tables (db/migration_crosscoder.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError
from ..crosscoder_config import FAMILY, CrosscoderConfig, from_dict, from_json
from ..plan import Unit, unit_work_default

_DATA_FIELDS = ("sparsity", "importance", "last_importance", "last_scale")


@dataclass(frozen=True)
class CrosscoderRun:
    index: int  # position in the experiment's runs: pair * seeds + seed offset
    pair: int
    dense_run: int
    moe_run: int
    seed: int
    cfg: CrosscoderConfig
    dense: dict  # source: model settings, data settings, W (E, m, n) and router as lists
    moe: dict

    def instance_seed(self) -> int:
        """Seeds the crosscoder's init and inputs: its seed and its pair, nothing else."""
        ident = json.dumps([self.seed, self.dense_run, self.moe_run]).encode()
        return int.from_bytes(hashlib.blake2b(ident, digest_size=7).digest(), "little")

    def to_json(self) -> str:
        d = self.cfg.to_dict()
        d["source"] = {"dense_run": self.dense_run, "moe_run": self.moe_run}
        d["train"] = {**d["train"], "seed": self.seed, "seeds": 1}
        return json.dumps(d)


# -- configs and checks (in the service, or a foreground command, with the store) ---------------

def config_from_stored(text: str) -> CrosscoderConfig:
    return from_json(text)


def submitted(raw: dict, name: str | None = None, store=None) -> CrosscoderConfig:
    """The validated config of a submission; a named pair is checked against the store now
    (an experiment as source is checked when the queue reaches it: it may still train)."""
    cfg = from_dict(raw, name)
    if store is not None and cfg.source.experiment is None:
        sources = _sources(store, [cfg.source.dense_run, cfg.source.moe_run])
        problems = pair_problems(cfg, cfg.source.dense_run, cfg.source.moe_run, sources)
        if problems:
            raise ConfigError(problems)
    return cfg


def with_registered_metrics(cfg: CrosscoderConfig, metrics) -> CrosscoderConfig:
    """Registered metrics (`moelab metric add`) are the toy models': nothing to add."""
    return cfg


def pairs(cfg: CrosscoderConfig, store) -> list[tuple[int, int]]:
    if cfg.source.experiment is None:
        return [(cfg.source.dense_run, cfg.source.moe_run)]
    from moelab.db.errors import StoreError
    from moelab.db.reads.crosscoder import experiment_pairs
    try:
        found = experiment_pairs(store, cfg.source.experiment)
    except StoreError as err:
        raise ConfigError([str(err)]) from None
    if not found:
        raise ConfigError([f"experiment {cfg.source.experiment} has no dense and MoE runs "
                           "with the same seed and data to diff"])
    return found


def pair_problems(cfg: CrosscoderConfig, dense_id: int, moe_id: int, sources: dict) -> list[str]:
    """Why two runs cannot be diffed: every reason at once."""
    d, m = sources.get(dense_id), sources.get(moe_id)
    p = [f"no run with id {i} ({what}); `moelab runs` lists them"
         for i, what, s in ((dense_id, "DENSE_RUN", d), (moe_id, "MOE_RUN", m)) if s is None]
    for i, want, s in ((dense_id, "dense", d), (moe_id, "moe", m)):
        if s is not None and s["model"]["kind"] != want:
            p.append(f"run {i} is a {s['model']['kind']} model, not a {want} one; give the "
                     "dense run first, then the MoE run")
        elif s is not None and not s["W"]:
            p.append(f"run {i} has no stored weights to diff")
    if p:
        return p
    nd, nm = d["model"]["n_features"], m["model"]["n_features"]
    if nd != nm:
        p.append(f"runs {dense_id} and {moe_id} have different n_features ({nd} and {nm}); "
                 "a crosscoder diffs two models of the same input features")
    else:
        diff = [f"data.{f} {json.dumps(d['data'].get(f))} vs {json.dumps(m['data'].get(f))}"
                for f in _DATA_FIELDS if d["data"].get(f) != m["data"].get(f)]
        if diff:
            p.append(f"runs {dense_id} and {moe_id} were trained on different data "
                     f"({'; '.join(diff)}); a crosscoder needs both fed the same inputs")
    dA, dB = _width(d), _width(m)
    if cfg.crosscoder.n_shared and dA != dB:
        p.append(f"crosscoder.n_shared = {cfg.crosscoder.n_shared} ties decoders across the two "
                 f"spaces, which needs equal widths (dense {dA}, MoE {dB}); use n_shared = 0")
    return p


# -- planning --------------------------------------------------------------------------------

def plan(cfg: CrosscoderConfig, experiment_id: int = 0, unit_work: float | None = None,
         device: str | None = None, store=None) -> list[Unit]:
    """The experiment's units: its crosscoders grouped by the shapes of their two models,
    each unit carrying the weights it needs. Raises ConfigError for pairs that cannot be
    diffed (the experiment fails with that line, nothing stored)."""
    found = pairs(cfg, store)
    sources = _sources(store, [i for pair in found for i in pair])
    problems = [q for d, m in found for q in pair_problems(cfg, d, m, sources)]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    unit_work = unit_work or unit_work_default()
    text = cfg.to_json()
    groups: dict[tuple, list[int]] = {}
    runs = [(p, d, m, s) for p, (d, m) in enumerate(found) for s in range(cfg.train.seeds)]
    for i, (_, d, m, _) in enumerate(runs):
        groups.setdefault((_shape(sources[d]), _shape(sources[m])), []).append(i)
    units: list[Unit] = []
    for idx in groups.values():
        _, d, m, _ = runs[idx[0]]
        size = max(1, int(unit_work // (_step_cost(cfg, sources[d], sources[m])
                                        * cfg.train.steps)))
        for start in range(0, len(idx), size):
            chunk = idx[start:start + size]
            inputs = {"runs": [{"index": i, "pair": runs[i][0], "dense_run": runs[i][1],
                                "moe_run": runs[i][2], "seed": cfg.train.seed + runs[i][3]}
                               for i in chunk],
                      "sources": {str(j): sources[j] for i in chunk for j in runs[i][1:3]}}
            units.append(Unit(experiment_id, len(units), FAMILY, text, tuple(chunk), (),
                              device or cfg.train.device, cfg.train.steps * len(chunk),
                              json.dumps(inputs)))
    return units


def _sources(store, run_ids: list[int]) -> dict[int, dict]:
    from moelab.db.reads.crosscoder import source_runs
    out = {}
    for run_id, r in source_runs(store, run_ids).items():
        model = {k: r[k] for k in ("kind", "n_features", "d_hidden", "n_experts", "k", "gating")}
        out[run_id] = {"model": model, "data": (r["config"] or {}).get("data", {}),
                       "W": r["W"], "router": r["router"]}
    return out


def _width(src: dict) -> int:
    return src["model"]["n_experts"] * src["model"]["d_hidden"]


def _shape(src: dict) -> tuple:
    m = src["model"]
    return (m["n_features"], m["n_experts"], m["d_hidden"], m["k"], m["gating"])


def _step_cost(cfg: CrosscoderConfig, d: dict, m: dict) -> float:
    """Sample-ops of one training step of one crosscoder (engine/plan.py's unit of work):
    encoder, two decoders and their gradients, plus the two toy models' forward passes."""
    width = _width(d) + _width(m)
    n = d["model"]["n_features"]
    return float(cfg.train.batch_size * (6 * cfg.crosscoder.n_latents * width + 2 * n * width))


# -- on the worker -----------------------------------------------------------------------------

def runs_of(config_text: str, run_indices, inputs: str = "") -> list[CrosscoderRun]:
    cfg = from_json(config_text)
    given = json.loads(inputs) if inputs else {}
    by_index = {r["index"]: r for r in given.get("runs", [])}
    sources = given.get("sources", {})
    missing = [i for i in run_indices if i not in by_index]
    if missing:
        raise ValueError(f"crosscoder unit lacks the inputs of its runs {missing}")
    return [CrosscoderRun(i, r["pair"], r["dense_run"], r["moe_run"], r["seed"], cfg,
                          sources[str(r["dense_run"])], sources[str(r["moe_run"])])
            for i in run_indices for r in [by_index[i]]]


def train(runs: list[CrosscoderRun], device: str, progress=None, cancel=None) -> dict:
    """Train one unit's crosscoders as one batched model; the tables for Store.write_unit."""
    from ..crosscoder import train_crosscoders
    from ..crosscoder_sources import ToyPairSource
    cfg = runs[0].cfg
    dense = [_weights(r.dense) for r in runs]
    moe = [_weights(r.moe) for r in runs]
    n = runs[0].moe["model"]["n_features"]
    p = np.stack([np.broadcast_to(1 - np.asarray(r.moe["data"].get("sparsity", 0.9),
                                                 dtype=np.float64), (n,)) for r in runs])
    last_scale = np.array([float(r.moe["data"].get("last_scale", 1.0)) for r in runs])
    source = ToyPairSource(dense, moe, p, last_scale, device)
    res = train_crosscoders(source, cfg.crosscoder, cfg.train,
                            [r.instance_seed() for r in runs], device, progress, cancel)
    from .crosscoder_tables import tables
    return tables(runs, res, dense, moe)


def _weights(src: dict):
    from ..crosscoder_sources import ModelWeights
    m = src["model"]
    W = np.asarray(src["W"], dtype=np.float32).reshape(m["n_experts"], m["d_hidden"],
                                                        m["n_features"])
    router = np.asarray(src["router"], dtype=np.float32).reshape(m["n_experts"],
                                                                  m["n_features"])
    return ModelWeights(W, router, int(m["k"]), str(m["gating"]))

