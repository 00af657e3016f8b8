"""The crosscoder family: BatchTopK crosscoders that diff a dense and an MoE model (two toy
models, or two small language models of the lm family: a source kind each, see
engine/crosscoder_sources.py).

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

from ..config import ConfigError
from ..crosscoder_config import FAMILY, CrosscoderConfig, from_dict, from_json
from ..plan import Unit, unit_work_default


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
        if "layer" in self.dense:  # a language model's: where the crosscoder read it
            d["source"].update(layer=self.dense["layer"], tokens=self.cfg.source.tokens)
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
        sources = _sources(store, [cfg.source.dense_run, cfg.source.moe_run], cfg)
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
    """Why two runs cannot be diffed: every reason at once (the checks common to every source
    kind here, the rest by the kind's module)."""
    d, m = sources.get(dense_id), sources.get(moe_id)
    p = [f"no run with id {i} ({what}); `moelab runs` lists them"
         for i, what, s in ((dense_id, "DENSE_RUN", d), (moe_id, "MOE_RUN", m)) if s is None]
    for i, want, s in ((dense_id, "dense", d), (moe_id, "moe", m)):
        if s is not None and s["model"]["kind"] != want:
            p.append(f"run {i} is a {s['model']['kind']} model, not a {want} one; give the "
                     "dense run first, then the MoE run")
    if p:
        return p
    if _kind(d) is not _kind(m):
        return [f"runs {dense_id} and {moe_id} are different kinds of model ({_kind(d).NAME} "
                f"and {_kind(m).NAME}); a crosscoder diffs two models fed the same inputs"]
    kind = _kind(d)
    p = kind.problems(cfg, dense_id, moe_id, d, m)
    dA, dB = (kind.width(d), kind.width(m)) if not p else (0, 0)
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
    sources = _sources(store, [i for pair in found for i in pair], cfg)
    problems = [q for d, m in found for q in pair_problems(cfg, d, m, sources)]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    unit_work = unit_work or unit_work_default()
    text = cfg.to_json()
    groups: dict[tuple, list[int]] = {}
    runs = [(p, d, m, s) for p, (d, m) in enumerate(found) for s in range(cfg.train.seeds)]
    for i, (_, d, m, _) in enumerate(runs):
        groups.setdefault((_kind(sources[d]).shape(sources[d]),
                           _kind(sources[m]).shape(sources[m])), []).append(i)
    units: list[Unit] = []
    for idx in groups.values():
        _, d, m, _ = runs[idx[0]]
        size = max(1, int(unit_work // (_kind(sources[d]).step_cost(cfg, sources[d], sources[m])
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


# A stored run's kind -> the module that reads it as a crosscoder source (the interface:
# engine/crosscoder_sources.py's docstring). A new kind of model is one entry here.
_SOURCE_KINDS = {"dense": "moelab.engine.crosscoder_sources",
                 "moe": "moelab.engine.crosscoder_sources",
                 "lm-dense": "moelab.engine.families.lm.crosscoder_source",
                 "lm-moe": "moelab.engine.families.lm.crosscoder_source"}
_BY_NAME = {"toy": "moelab.engine.crosscoder_sources",
            "lm": "moelab.engine.families.lm.crosscoder_source"}


def _kind(src: dict):
    import importlib
    return importlib.import_module(_BY_NAME[src.get("source", "toy")])  # older units: toy


def _sources(store, run_ids: list[int], cfg: CrosscoderConfig) -> dict[int, dict]:
    """The runs that exist, each loaded by its kind's module (weights, inputs, settings);
    a run of a kind no crosscoder reads (a crosscoder itself) is loaded as its kind name."""
    import importlib

    from moelab.db.reads.crosscoder import source_runs
    rows = source_runs(store, run_ids)
    by_module: dict[str, dict] = {}
    out = {}
    for run_id, r in rows.items():
        module = _SOURCE_KINDS.get(r["kind"])
        if module is None:
            out[run_id] = {"model": {"kind": r["kind"]}}
        else:
            by_module.setdefault(module, {})[run_id] = r
    for module, group in by_module.items():
        out.update(importlib.import_module(module).load(store, group, cfg))
    return out


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
    cfg = runs[0].cfg
    source = _kind(runs[0].dense).build(runs, device)
    res = train_crosscoders(source, cfg.crosscoder, cfg.train,
                            [r.instance_seed() for r in runs], device, progress, cancel)
    from .crosscoder_tables import tables
    return tables(runs, res, source)
