"""`moelab run`: train with a progress bar in this terminal, store, print a summary.

With no lab service on the database, training happens in this process and the file is held
only to register and to store the experiment. When a service holds the file, the experiment
is queued on it and followed here (same bar, same summary); Ctrl-C cancels it either way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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

FINISHED = ("done", "failed", "cancelled")


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
    loss = p.get("loss")
    bar.update(task, completed=p["work_done"] / max(p["work_total"], 1) * n_models,
               steps=f"unit {p['batch']}/{p['n_batches']} step {p['step']}/{p['steps']}",
               loss="…" if loss is None else f"{loss:.4g}", device=p.get("device") or "")


# -- on the lab service ---------------------------------------------------------------------

def run_on_service(cfg: Config, db_path, preset: str | None, quick: bool,
                   device: str | None, console: Console) -> int:
    from moelab.engine.config_stored import raw_from_config
    from moelab.engine.service.client import ServiceClient
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
            status = follow(events, eid, cfg.name, n_models, console)
        except KeyboardInterrupt:
            new = client.cancel(eid)
            console.print(f"[yellow]experiment {eid} {new}; the units stored so far are kept")
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


def follow(events, eid: int, name: str, n_models: int, console: Console) -> str | None:
    """Show a service's events of experiment eid as the bar until it ends; its status."""
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

@dataclass
class Trained:
    """What a foreground run reports: the experiment, its runs, where and how fast."""
    experiment_id: int
    n_runs: int
    device: str
    seconds: float
    message: str
    store_seconds: float = 0.0
    handed_over: bool = False  # a service took it over mid-way and finished it


def run_here(cfg: Config, db_path, preset: str | None, quick: bool, device: str | None,
             console: Console) -> int:
    try:
        t = train_and_store(cfg, db_path, preset, quick, device, console)
    except KeyboardInterrupt:
        console.print("[yellow]cancelled; the units stored so far are kept (the experiment "
                      "is marked cancelled)")
        return 130
    out = Console()
    if t.message.startswith(("failed", "cancelled")):
        console.print(f"[red]experiment {t.experiment_id} {t.message}")
        return 1
    out.print(f"[bold green]experiment {t.experiment_id}[/] {cfg.name}: {t.message}, "
              f"stored in {t.store_seconds:.2f} s")
    out.print(f"[dim]query it: moelab runs --where 'experiment_id = {t.experiment_id}'[/]")
    return 0


def train_and_store(cfg: Config, db_path, preset: str | None, quick: bool,
                    device: str | None, console: Console) -> Trained:
    """A toy-model experiment trained here, with the metrics `moelab metric add` registered
    computed for every run (train_here)."""
    from moelab.metric_registry import with_registered
    cfg = with_registered(cfg, db_path)
    return train_here(cfg, db_path, preset, quick, device, console)


def train_here(cfg, db_path, preset: str | None, quick: bool, device: str | None,
               console: Console) -> Trained:
    """Train an experiment of any family in this process with a progress bar, storing each
    unit as it finishes (engine/runner.py over a FileLedger: the file is held only to
    register the experiment and to store a unit, so other readers can open it meanwhile).
    If a lab service takes the file mid-way, the experiment is handed to it and followed
    there. A failure or Ctrl-C is recorded on the experiment, then re-raised; a full disk
    leaves it running with its owner gone, for the next service to resume."""
    from moelab.db import DiskFull
    from moelab.engine.device import resolve_device
    from moelab.engine.executors.inprocess import InProcessExecutor
    from moelab.engine.families import family_of
    from moelab.engine.runner import run_experiment
    from moelab.file_ledger import FileLedger, HandedOver
    dev = resolve_device(device or cfg.train.device)
    ledger = FileLedger(db_path, preset, quick)
    bar = _BarEvents(cfg.name, dev, console)
    t0 = time.perf_counter()
    try:
        with bar:
            end = run_experiment(ledger, family_of(cfg.to_json()), cfg, InProcessExecutor(),
                                 bar, device=dev)
    except HandedOver:
        return _follow_handed_over(db_path, ledger.experiment_id, cfg, bar.n_runs, dev,
                                   console)
    except KeyboardInterrupt:
        _record(ledger, "cancelled", "interrupted with Ctrl-C")
        raise
    except DiskFull:
        raise
    except Exception as e:
        _record(ledger, "failed", f"{type(e).__name__}: {e}")
        raise
    message = end.message if end.status == "done" else f"{end.status}: {end.message}"
    return Trained(end.experiment_id, bar.n_runs, dev, time.perf_counter() - t0, message,
                   ledger.seconds)


def _record(ledger, status: str, message: str) -> None:
    if ledger.experiment_id is not None:  # a plan refused registered nothing
        ledger.set_status(ledger.experiment_id, status, message)


class _BarEvents:
    """The runner's events as this terminal's progress bar, shown once the plan is made (a
    plan refused leaves the terminal with its one line)."""

    def __init__(self, name: str, dev: str, console: Console):
        self.bar, self.name, self.dev = _bar(console), name, dev
        self.task = None
        self.n_runs = self.n_units = self.work_total = self.work_stored = self.units = 0

    def __enter__(self) -> _BarEvents:
        return self

    def __exit__(self, *exc) -> None:
        if self.task is not None:
            if exc[0] is None:
                self.bar.update(self.task, completed=self.n_runs)
            self.bar.__exit__(*exc)

    def __call__(self, ev) -> None:
        from moelab.engine.executors.base import UnitProgress
        from moelab.engine.runner import Planned, UnitStored
        if isinstance(ev, Planned):
            self.n_runs, self.n_units, self.work_total = ev.n_runs, len(ev.units), ev.work_total
            self.bar.__enter__()
            self.task = self.bar.add_task(self.name, total=self.n_runs, steps="", loss="…",
                                          device=self.dev)
        elif isinstance(ev, UnitProgress):
            _show(self.bar, self.task, self.n_runs, {
                "work_done": self.work_stored + ev.step * ev.n_models,
                "work_total": self.work_total, "batch": self.units + 1,
                "n_batches": self.n_units, "step": ev.step, "steps": ev.steps,
                "loss": ev.loss, "device": ev.device})
        elif isinstance(ev, UnitStored):
            self.work_stored += ev.unit.work
            self.units += 1


def _follow_handed_over(db_path, exp_id: int, cfg, n_runs: int, dev: str,
                        console: Console) -> Trained:
    from moelab.engine.service.client import ServiceClient
    t0 = time.perf_counter()
    with ServiceClient(db_path) as client:
        events = client.events()
        client.request("adopt", experiment_id=exp_id, status="interrupted",
                       message="handed over by its foreground run (a lab service took the "
                               "file); it resumes here")
        console.print(f"[dim]a lab service took {db_path}: experiment {exp_id} goes on there "
                      "with the units not yet stored, followed here[/]")
        status = follow(events, exp_id, cfg.name, n_runs, console)
        row = client.read("experiment", experiment_id=exp_id) or {}
    status = row.get("status", status)
    message = row.get("message") or ""
    if status != "done":
        message = f"{status}: {message}"
    return Trained(exp_id, n_runs, row.get("device") or dev, time.perf_counter() - t0,
                   message, handed_over=True)
