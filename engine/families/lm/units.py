"""Planning an lm experiment: its text read and tokenized once, its models as work units.

The plan (in the lab service, or a foreground `moelab run`) reads the corpora on this
machine, trains the tokenizer on their training text (or, on a resume, takes the one the
experiment's stored runs were trained with, so a half-trained pair never mixes two), and
puts the tokenizer and the token streams into every unit's inputs: a worker (a spawned
process or a Dask worker on another machine) trains without reading any corpus or store.
One model is one unit: a model's steps cannot be split, and a killed unit trains again
from step 0, to the same bits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...config import ConfigError
from . import corpus, tokenizer
from .config import FAMILY as NAME
from .config import LMConfig, LMModel, from_json


@dataclass(frozen=True)
class Prepared:
    """What every unit of an experiment shares: the tokenizer and the token streams."""
    tokenizer: str  # its JSON
    corpus: tuple[dict, ...]  # per domain: name, source, digest, chars and tokens
    train: dict  # domain -> token ids (a numpy array)
    heldout: dict


@dataclass(frozen=True)
class LMRun:
    index: int  # variant * seeds + seed offset
    variant: int
    seed: int
    cfg: LMConfig
    model: LMModel
    prepared: Prepared

    def to_json(self) -> str:
        d = self.cfg.to_dict()
        d["model"] = {**d["model"], **{k: getattr(self.model, k) for k in d["model"]}}
        d["train"] = {**d["train"], "seed": self.seed, "seeds": 1}
        d["sweep"] = {"variants": []}
        return json.dumps(d)


def runs(cfg: LMConfig) -> list[tuple[int, int, LMModel]]:
    """(variant, seed, model) of each run, in run order."""
    return [(v, cfg.train.seed + s, m) for v, m in enumerate(cfg.models())
            for s in range(cfg.train.seeds)]


def prepare(cfg: LMConfig, tokenizer_json: str | None = None) -> Prepared:
    """The corpora read, split and tokenized; a ConfigError for a corpus that is missing or
    empty, or with fewer tokens than one context window (nothing has been written then)."""
    return _prepare(cfg.data, max(m.vocab_size for m in cfg.models()),
                    max(m.context for m in cfg.models()), tokenizer_json)


def _prepare(data, vocab_size: int, context: int, tokenizer_json: str | None) -> Prepared:
    domains = corpus.load(data.domains, dict(data.files), data.chars, data.heldout)
    if tokenizer_json is None:
        tokenizer_json = tokenizer.train_tokenizer([t for d in domains for t in d.train],
                                                   vocab_size)
    train = {d.name: tokenizer.encode_documents(tokenizer_json, d.train) for d in domains}
    held = {d.name: tokenizer.encode_documents(tokenizer_json, d.heldout) for d in domains}
    problems = []
    for d in domains:
        for part, ids in (("training", train[d.name]), ("held-out", held[d.name])):
            if len(ids) < context + 1:
                problems.append(f"data: the {d.name!r} corpus has {len(ids)} {part} tokens, "
                                f"fewer than model.context + 1 = {context + 1}; use a smaller "
                                "context or more text (data.chars)")
    if problems:
        raise ConfigError(problems)
    summary = tuple({"domain": d.name, "source": d.source, "digest": d.digest(),
                     "train_chars": d.train_chars, "heldout_chars": d.heldout_chars,
                     "train_tokens": int(len(train[d.name])),
                     "heldout_tokens": int(len(held[d.name]))} for d in domains)
    return Prepared(tokenizer_json, summary, train, held)


def stored_tokenizer(store, experiment_id: int) -> str | None:
    """The tokenizer the experiment's stored runs were trained with (a resume), if any."""
    if not experiment_id or store is None:
        return None
    from moelab.db.reads.lm import experiment_tokenizer
    return experiment_tokenizer(store, experiment_id)


def plan(cfg: LMConfig, experiment_id: int = 0, unit_work: float | None = None,
         device: str | None = None, store=None) -> list:
    from ...plan import Unit
    prep = prepare(cfg, stored_tokenizer(store, experiment_id))
    shared = {"tokenizer": prep.tokenizer, "corpus": list(prep.corpus),
              "train": {k: tokenizer.pack(v) for k, v in prep.train.items()},
              "heldout": {k: tokenizer.pack(v) for k, v in prep.heldout.items()}}
    text = cfg.to_json()
    units = []
    for i, (variant, seed, _m) in enumerate(runs(cfg)):
        inputs = {**shared, "runs": [{"index": i, "variant": variant, "seed": seed}]}
        units.append(Unit(experiment_id, len(units), NAME, text, (i,), (),
                          device or cfg.train.device, cfg.train.steps, json.dumps(inputs)))
    return units


def runs_of(config_text: str, run_indices, inputs: str = "") -> list[LMRun]:
    cfg = from_json(config_text)
    given = json.loads(inputs) if inputs else {}
    by_index = {r["index"]: r for r in given.get("runs", [])}
    missing = [i for i in run_indices if i not in by_index]
    if missing:
        raise ValueError(f"lm unit lacks the inputs of its runs {missing}")
    prep = Prepared(given["tokenizer"], tuple(given["corpus"]),
                    {k: tokenizer.unpack(v) for k, v in given["train"].items()},
                    {k: tokenizer.unpack(v) for k, v in given["heldout"].items()})
    models = cfg.models()
    return [LMRun(i, r["variant"], r["seed"], cfg, models[r["variant"]], prep)
            for i in run_indices for r in [by_index[i]]]
