"""The toy-model family: today's dense and MoE models (SPEC), trained as work units.

A family knows how its sweep becomes runs (sweep.expand), how a unit of runs trains (one
batched model per unit: train.train_batch) and the tables a trained unit stores.
"""

from __future__ import annotations

import functools

import numpy as np

from ..config import Config, from_dict
from ..config_stored import config_from_stored  # noqa: F401 (a member of the family protocol)
from ..data import density
from ..estimate import check_fits
from ..summary import summarize
from ..sweep import RunSpec, expand
from ..train import LOGGED, BatchResult, train_batch
from ..version import ENGINE_VERSION

FAMILY = "toy"


@functools.lru_cache(maxsize=4)
def _expanded(config_text: str) -> list[RunSpec]:
    return expand(config_from_stored(config_text))


def runs_of(config_text: str, run_indices, inputs: str = "") -> list[RunSpec]:
    """The unit's runs; the sweep is expanded once per process and config (a full fig4 takes
    seconds to expand, a unit a minute to train). Toy units need no stored inputs."""
    runs = _expanded(config_text)
    return [runs[i] for i in run_indices]


# -- the family protocol (engine/families/__init__.py) ----------------------------------------

def submitted(raw: dict, name: str | None = None, store=None) -> Config:
    """The validated Config of a submission (every run of its sweep valid, and small enough
    for the machine); named `name`, else its own "name", else "experiment"."""
    raw = {k: v for k, v in raw.items() if k != "family"}
    stored_name = raw.pop("name", None)
    cfg = from_dict(raw, name=str(name or stored_name or "experiment"))
    # Before expanding: a billion seeds must be refused, not built. The day-long question
    # was asked by the client (`--yes`); what cannot fit is refused here whoever asks.
    check_fits(cfg, yes=True)
    expand(cfg)  # every run of the sweep must be valid too; raises ConfigError
    return cfg


def with_registered_metrics(cfg: Config, metrics) -> Config:
    """Toy runs compute the registered metrics (`moelab metric add`) for every run."""
    from ..custom_metrics import with_metrics
    return with_metrics(cfg, metrics)


def plan(cfg, experiment_id: int = 0, unit_work: float | None = None, device: str | None = None,
         store=None) -> list:
    from ..plan import plan as toy_plan
    return toy_plan(cfg, experiment_id, unit_work=unit_work, device=device)


def train(runs: list[RunSpec], device: str, progress=None, cancel=None) -> dict:
    """Train one unit's runs as one batched model; the tables for Store.write_unit."""
    res = train_batch(runs, device, progress, cancel)
    select_all = np.array([r.train.select == "all" for r in runs])
    return run_tables(runs, res, select_all)


def run_tables(runs: list[RunSpec], res: BatchResult, chosen: np.ndarray) -> dict:
    """The columns of one batch for the store's runs/experts/features/metrics/weights."""
    r0 = runs[0]
    m = r0.model
    n_inst, E = res.W.shape[:2]
    p = np.stack([density(r.data, m.n_features) for r in runs])
    last_scale = np.array([r.data.last_scale for r in runs])
    s = summarize(res.W, res.b, res.router, m.k, p, last_scale, res.importance, runs=runs,
                  init_router=res.init_router)
    col = lambda f: [f(r) for r in runs]  # noqa: E731
    runs_cols = {
        "local_index": np.arange(n_inst),
        "status": ["done"] * n_inst,
        "kind": col(lambda r: r.model.kind),
        "n_features": col(lambda r: r.model.n_features),
        "d_hidden": col(lambda r: r.model.d_hidden),
        "n_experts": col(lambda r: r.model.n_experts),
        "k": col(lambda r: r.model.k),
        "gating": col(lambda r: r.model.gating),
        "router_init": col(lambda r: r.model.router_init if isinstance(r.model.router_init, str)
                           else "matrix"),
        "sparsity": 1.0 - p.mean(1),
        "last_importance": col(lambda r: float(r.data.last_importance)),
        "last_scale": last_scale,
        "seed": col(lambda r: r.seed),
        "chosen": chosen,
        "point": col(lambda r: r.point),
        "steps": col(lambda r: r.train.steps),
        "batch_size": col(lambda r: r.train.batch_size),
        "lr": col(lambda r: float(r.train.lr)),
        "weight_decay": col(lambda r: float(r.train.weight_decay)),
        "lb_coef": col(lambda r: float(r.train.lb_coef)),
        "device": [res.device] * n_inst,
        "started_at": np.full(n_inst, res.started_at),
        "finished_at": np.full(n_inst, res.finished_at),
        # wall time of the batch shared evenly: what one model cost inside the batch
        "train_seconds": np.full(n_inst, res.train_seconds / n_inst),
        "final_loss": res.final_loss.astype(np.float64),
        "eval_loss": res.eval_loss.astype(np.float64),
        **s["runs"],
        "config": col(lambda r: r.to_json()),
        "engine_version": np.full(n_inst, ENGINE_VERSION),
    }
    experts = s["experts"]
    features = s["features"]
    n_logs = len(res.log_steps)
    metrics = {
        "local_index": np.repeat(np.arange(n_inst), n_logs * len(LOGGED)),
        "step": np.tile(res.log_steps, n_inst * len(LOGGED)),
        "name": [name for _ in range(n_inst) for name in LOGGED for _ in range(n_logs)],
        "value": np.stack([res.log[name] for name in LOGGED], 1).ravel().astype(np.float64),
    }
    weights = {
        "local_index": np.repeat(np.arange(n_inst), E),
        "expert": np.tile(np.arange(E), n_inst),
        "W": res.W.reshape(n_inst * E, -1).astype(np.float32),
        "b": res.b.reshape(n_inst * E, -1).astype(np.float32),
        "router": res.router.reshape(n_inst * E, -1).astype(np.float32),
    }
    experts["local_index"] = experts.pop("inst")
    features["local_index"] = features.pop("inst")
    return {"runs": runs_cols, "experts": experts, "features": features, "metrics": metrics,
            "weights": weights, **_beyond_tables(runs, res, p, last_scale)}


def _beyond_tables(runs: list[RunSpec], res: BatchResult, p: np.ndarray,
                   last_scale: np.ndarray) -> dict:
    """Snapshots and their dynamics, MoE Lens and the runs' custom metrics, when asked."""
    from ..custom_metrics import unit_tables
    from ..dynamics import dynamics_tables
    from ..lens import lens_tables
    m, t = runs[0].model, runs[0].train
    out = {}
    if res.snapshots is not None:
        out.update(dynamics_tables(res.snapshots, m.k, p, last_scale))
    if m.kind == "moe" and m.n_experts > 1:
        out.update(lens_tables(res.W, res.b, res.router, m.k, m.gating, res.importance, p,
                               last_scale, t.feature_reduction))
    out.update(unit_tables(runs, res.W, res.b, res.router, p, last_scale))
    # an empty table (no metric failed) is left out of the chunk
    return {name: cols for name, cols in out.items() if len(cols["local_index"])}
