"""`moelab run`: train in the foreground with a progress bar, store, print a summary."""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from moelab.db import open_store
from moelab.engine.config import Config
from moelab.engine.device import resolve_device
from moelab.engine.experiment import ExperimentProgress, ExperimentResult, run_experiment
from moelab.engine.sweep import expand


def run_foreground(cfg: Config, db_path, preset: str | None, quick: bool,
                   device: str | None, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    dev = resolve_device(device or cfg.train.device)
    n_models = len(expand(cfg))
    # Hold the database only to register the experiment and to store it, so other
    # readers can open the file while training runs.
    with open_store(db_path) as store:
        exp_id = store.create_experiment(cfg.name, preset, cfg.to_json(), status="running",
                                         quick=quick)
        store.set_experiment_status(exp_id, "running", device=dev)
    try:
        result = _train_with_bar(cfg, dev, n_models, console)
    except KeyboardInterrupt:
        _finish(db_path, exp_id, "cancelled", "interrupted with Ctrl-C")
        console.print(f"[yellow]experiment {exp_id} cancelled; nothing of it was stored")
        return 130
    except Exception as e:
        _finish(db_path, exp_id, "failed", f"{type(e).__name__}: {e}")
        raise
    t0 = time.perf_counter()
    with open_store(db_path) as store:
        store.write_runs(exp_id, result.chunks)
        store.set_experiment_status(exp_id, "done", progress=1.0)
    store_seconds = time.perf_counter() - t0
    _summary(console, exp_id, result, store_seconds)
    return 0


def _finish(db_path, exp_id: int, status: str, message: str) -> None:
    with open_store(db_path) as store:
        store.set_experiment_status(exp_id, status, message=message)


def _train_with_bar(cfg: Config, dev: str, n_models: int, console: Console) -> ExperimentResult:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[steps]}"), MofNCompleteColumn(),
               TextColumn("models"), TextColumn("loss {task.fields[loss]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("[dim]{task.fields[device]}")]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(cfg.name, total=n_models, steps="", loss="…", device=dev)

        def on_progress(p: ExperimentProgress) -> None:
            # the bar advances by instance-steps so the ETA is honest across batches
            bar.update(task, completed=p.work_done / max(p.work_total, 1) * n_models,
                       steps=f"batch {p.batch}/{p.n_batches} step {p.step}/{p.steps}",
                       loss=f"{p.loss:.4g}")
        result = run_experiment(cfg, dev, progress=on_progress)
        bar.update(task, completed=n_models)
    return result


def _summary(console: Console, exp_id: int, r: ExperimentResult, store_seconds: float) -> None:
    out = Console()
    ev = r.eval_loss
    chosen = int(np.sum(r.chosen))
    out.print(f"[bold green]experiment {exp_id}[/] {r.config.name}: {len(r.runs)} runs "
              f"({chosen} chosen), eval loss {ev.min():.4g} .. {ev.max():.4g}, "
              f"trained in {r.seconds:.1f} s on {r.device}, stored in {store_seconds:.2f} s")
    out.print(f"[dim]query it: moelab runs --where 'experiment_id = {exp_id}'[/]")

