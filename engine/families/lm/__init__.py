"""The lm family: small dense and MoE decoder-only transformers trained on text found on
the machine (code, documentation, data), with MoE Lens on the trained MoE (docs/lm.md).

The family protocol (engine/families/__init__.py, Family): config_from_stored, submitted,
with_registered_metrics, count, plan (units.py: the corpora read and tokenized once, one
unit per model) and, on any worker, runs_of and train -> the tables of db/migration_lm.py.
Nothing here imports torch until a unit trains, so the CLI checks a config without it.
"""

from __future__ import annotations

from .config import FAMILY, LMConfig, from_dict, from_json
from .units import LMRun, plan, prepare, runs, runs_of

NAME = FAMILY
CONFIG = LMConfig

__all__ = ["FAMILY", "NAME", "CONFIG", "config_from_stored", "submitted",
           "with_registered_metrics", "count", "plan", "runs_of", "train", "prepare", "LMRun"]


def config_from_stored(text: str) -> LMConfig:
    return from_json(text)


def submitted(raw: dict, name: str | None = None, store=None) -> LMConfig:
    """The validated config of a submission, its corpora checked now (missing or empty
    ones, or too little text for a context window: refused before anything is queued)."""
    cfg = from_dict(raw, name)
    prepare(cfg)
    return cfg


def with_registered_metrics(cfg: LMConfig, metrics) -> LMConfig:
    """Registered metrics (`moelab metric add`) are the toy models': nothing to add."""
    return cfg


def count(cfg: LMConfig, store=None) -> int:
    return len(runs(cfg))


def train(lm_runs: list[LMRun], device: str, progress=None, cancel=None) -> dict:
    """Train the unit's models one after another (one, as planned); their tables."""
    from .lens import moe_lens
    from .tables import tables
    from .trainer import threads, train_lm, windows
    results, lenses = [], []
    for run in lm_runs:
        m, tr = run.model, run.cfg.train
        held = {d: windows(ids, m.context, tr.eval_tokens)
                for d, ids in run.prepared.heldout.items()}
        res = train_lm(m, tr, run.seed, run.prepared.train, held, device, progress, cancel)
        results.append(res)
        if m.n_experts > 1:
            with threads(device, tr.batch_size * m.context * max(m.d_mlp, m.d_model)):
                lenses.append(moe_lens(res.model, held, device))
        else:
            lenses.append(None)
    return tables(lm_runs, results, lenses)
