"""`moelab run`: train with a progress bar in this terminal, store, print a summary.

With no lab service on the database, training happens in this process and the file is held
only to register and to store the experiment. When a service holds the file, the experiment
is queued on it and followed here (same bar, same summary); Ctrl-C cancels it either way.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from moelab.engine.config import Config

FINISHED = ("done", "failed", "cancelled", "interrupted")


def run_foreground(cfg: Config, db_path, preset: str | None, quick: bool,
                   device: str | None, console: Console | None = None) -> int:
    from moelab.engine.service.client import service_running
    console = console or Console(stderr=True)
    if service_running(db_path):
        return run_on_service(cfg, db_path, preset, quick, device, console)
    return run_here(cfg, db_path, preset, quick, device, console)


def _bar(console: Console) -> Progress:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[steps]}"), MofNCompleteColumn(),
               TextColumn("models"), TextColumn("loss {task.fields[loss]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("[dim]{task.fields[device]}")]
    return Progress(*columns, console=console, transient=False)


def _show(bar: Progress, task, n_models: int, p) -> None:
    # the bar advances by instance-steps so the ETA is honest across batches
    bar.update(task, completed=p["work_done"] / max(p["work_total"], 1) * n_models,
               steps=f"batch {p['batch']}/{p['n_batches']} step {p['step']}/{p['steps']}",
               loss=f"{p['loss']:.4g}", device=p["device"])


# -- on the lab service ---------------------------------------------------------------------

def run_on_service(cfg: Config, db_path, preset: str | None, quick: bool,
                   device: str | None, console: Console) -> int:
    from moelab.engine.service.client import ServiceClient
    from moelab.engine.service.configs import raw_from_config
    from moelab.engine.sweep import expand
    raw = raw_from_config(cfg)
    if device:
        raw["train"]["device"] = device
    n_models = len(expand(cfg))
    with ServiceClient(db_path) as client:
        events = client.events()  # subscribed before submitting: no event can slip by
        eid = client.submit(raw, preset=preset, quick=quick, name=cfg.name)
        console.print(f"[dim]a lab service holds {db_path}: experiment {eid} is queued on it "
                      "and followed here (Ctrl-C cancels it; `moelab queue` would not wait)[/]")
        try:
            status = _follow(events, eid, cfg.name, n_models, console)
        except KeyboardInterrupt:
            new = client.cancel(eid)
            console.print(f"[yellow]experiment {eid} {new}; nothing of it was stored")
            return 130
        row = client.read("experiment", experiment_id=eid) or {}
    status = row.get("status", status)
    out = Console()
    if status == "done":
        out.print(f"[bold green]experiment {eid}[/] {cfg.name}: {row.get('message')}")
        out.print(f"[dim]query it: moelab runs --where 'experiment_id = {eid}'[/]")
        return 0
    console.print(f"[red]experiment {eid} {status}[/]: {row.get('message') or ''}")
    return 1


def _follow(events, eid: int, name: str, n_models: int, console: Console) -> str | None:
    with _bar(console) as bar:
        task = bar.add_task(f"{name} (queued)", total=n_models, steps="", loss="…",
                            device="")
        for ev in events:
            if ev.get("experiment_id") != eid:
                if ev.get("type") == "progress":
                    bar.update(task, description=f"{name} (queued behind "
                               f"#{ev['experiment_id']})")
                continue
            if ev["type"] == "progress":
                bar.update(task, description=name)
                _show(bar, task, n_models, ev)
            elif ev["type"] == "status" and ev["status"] in FINISHED:
                if ev["status"] == "done":
                    bar.update(task, completed=n_models)
                return ev["status"]
    return None  # the stream ended: the service went away; the caller reads the status


# -- in this process ------------------------------------------------------------------------

def run_here(cfg: Config, db_path, preset: str | None, quick: bool, device: str | None,
             console: Console) -> int:
    try:
        exp_id, result, store_seconds = train_and_store(cfg, db_path, preset, quick, device,
                                                        console)
    except KeyboardInterrupt:
        console.print("[yellow]cancelled; nothing of the experiment was stored")
        return 130
    _summary(exp_id, result, store_seconds)
    return 0


def train_and_store(cfg: Config, db_path, preset: str | None, quick: bool,
                    device: str | None, console: Console):
    """Train in this process with a progress bar and store; (experiment_id, result, seconds
    to store). A failure or Ctrl-C is recorded on the experiment, then re-raised."""
    from moelab.db import open_store
    from moelab.engine.device import resolve_device
    from moelab.engine.service.owners import foreground_mark
    from moelab.engine.sweep import expand
    dev = resolve_device(device or cfg.train.device)
    n_models = len(expand(cfg))
    # Hold the database only to register the experiment and to store it, so other
    # readers can open the file while training runs. The mark tells a service that starts
    # meanwhile that this process trains it.
    with open_store(db_path) as store:
        exp_id = store.create_experiment(cfg.name, preset, cfg.to_json(), status="running",
                                         quick=quick)
        store.set_experiment_status(exp_id, "running", message=foreground_mark(), device=dev)
    try:
        result = _train_with_bar(cfg, dev, n_models, console)
    except KeyboardInterrupt:
        _end(db_path, exp_id, "cancelled", "interrupted with Ctrl-C")
        raise
    except Exception as e:
        _end(db_path, exp_id, "failed", f"{type(e).__name__}: {e}")
        raise
    t0 = time.perf_counter()
    _store(db_path, exp_id, result)
    return exp_id, result, time.perf_counter() - t0


def _store(db_path, exp_id: int, result) -> None:
    from moelab.db import StoreError, open_store
    from moelab.engine.service.results import summary_line, summary_of
    summary = summary_of(result)
    try:
        store = open_store(db_path)
    except StoreError as err:
        if "locked" not in str(err):
            raise
        _hand_to_service(db_path, exp_id, result.chunks, summary)  # a service started meanwhile
        return
    with store:
        store.write_runs(exp_id, result.chunks)
        store.set_experiment_status(exp_id, "done", message=summary_line(summary),
                                    progress=1.0)


def _hand_to_service(db_path, exp_id: int, chunks, summary) -> None:
    from moelab.engine.service.client import ServiceClient
    from moelab.engine.service.paths import ServicePaths
    from moelab.engine.service.results import save_result
    path = ServicePaths.of(db_path).result_file(exp_id)
    save_result(path, chunks, summary)
    with ServiceClient(db_path) as client:
        client.request("adopt", experiment_id=exp_id)


def _end(db_path, exp_id: int, status: str, message: str) -> None:
    from moelab.db import StoreError, open_store
    try:
        with open_store(db_path) as store:
            store.set_experiment_status(exp_id, status, message=message)
    except StoreError as err:
        if "locked" not in str(err):
            raise
        from moelab.engine.service.client import ServiceClient
        with ServiceClient(db_path) as client:
            client.request("adopt", experiment_id=exp_id, status=status, message=message)


def _train_with_bar(cfg: Config, dev: str, n_models: int, console: Console):
    from dataclasses import asdict

    from moelab.engine.experiment import run_experiment
    with _bar(console) as bar:
        task = bar.add_task(cfg.name, total=n_models, steps="", loss="…", device=dev)
        result = run_experiment(cfg, dev, progress=lambda p: _show(bar, task, n_models,
                                                                    asdict(p)))
        bar.update(task, completed=n_models)
    return result


def _summary(exp_id: int, r, store_seconds: float) -> None:
    out = Console()
    ev = r.eval_loss
    chosen = int(r.chosen.sum())
    out.print(f"[bold green]experiment {exp_id}[/] {r.config.name}: {len(r.runs)} runs "
              f"({chosen} chosen), eval loss {ev.min():.4g} .. {ev.max():.4g}, "
              f"trained in {r.seconds:.1f} s on {r.device}, stored in {store_seconds:.2f} s")
    out.print(f"[dim]query it: moelab runs --where 'experiment_id = {exp_id}'[/]")
