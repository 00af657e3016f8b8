"""`moelab run`: train with a progress bar in this terminal, store, print a summary.

With no lab service on the database, training happens in this process and the file is held
only to register and to store the experiment. When a service holds the file, the experiment
is queued on it and followed here (same bar, same summary); Ctrl-C cancels it either way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

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
    """Train in this process with a progress bar, storing each unit as it finishes. The file
    is held only to register the experiment and to store a unit, so other readers can open
    it meanwhile; if a lab service takes the file mid-way, the experiment is handed to it
    and followed there. A failure or Ctrl-C is recorded on the experiment, then re-raised."""
    from moelab.db import DiskFull, open_store
    from moelab.engine.device import resolve_device
    from moelab.engine.plan import plan, unit_work_default
    from moelab.engine.service.owners import foreground_mark
    from moelab.engine.sweep import expand
    from moelab.metric_registry import with_registered
    cfg = with_registered(cfg, db_path)  # `moelab metric add`: computed for every new run
    dev = resolve_device(device or cfg.train.device)
    runs = expand(cfg)
    work = unit_work_default()
    units = plan(cfg, runs=runs, unit_work=work, device=dev)
    with open_store(db_path) as store:
        exp_id = store.create_experiment(cfg.name, preset, cfg.to_json(), status="running",
                                         quick=quick)
        store.set_experiment_status(exp_id, "running", device=dev, owner=foreground_mark())
        store.set_plan(exp_id, len(runs), len(units), work)
    units = [replace(u, experiment_id=exp_id) for u in units]
    t0 = time.perf_counter()
    sink = _UnitSink(db_path, exp_id)
    try:
        _train_with_bar(cfg, units, len(runs), dev, sink, console)
    except _HandedOver:
        return _follow_handed_over(db_path, exp_id, cfg, len(runs), dev, console)
    except KeyboardInterrupt:
        _end(db_path, exp_id, "cancelled", "interrupted with Ctrl-C")
        raise
    except DiskFull:  # left running with its owner gone: the next service resumes it
        raise
    except Exception as e:
        _end(db_path, exp_id, "failed", f"{type(e).__name__}: {e}")
        raise
    row = sink.final or {}
    return Trained(exp_id, len(runs), dev, time.perf_counter() - t0,
                   row.get("message") or "", sink.seconds)


class _HandedOver(Exception):
    """A lab service took the database while this run trained."""


class _UnitSink:
    """Stores each finished unit in its own open of the file."""

    def __init__(self, db_path, exp_id: int):
        self.db_path, self.exp_id = db_path, exp_id
        self.seconds = 0.0
        self.final: dict | None = None

    def __call__(self, unit, result) -> None:
        from moelab.db import DiskFull, StoreLocked, open_store
        t0 = time.perf_counter()
        try:
            store = open_store(self.db_path)
        except StoreLocked:
            raise _HandedOver() from None
        with store:
            try:
                store.write_unit(self.exp_id, unit.index, result.tables, result.meta(),
                                 dict(unit.point_sizes))
            except DiskFull as err:  # left running with a dead owner: a service resumes it
                raise DiskFull(f"{err}; the units stored so far are kept: free some space "
                               "and `moelab engine start` resumes the experiment with the "
                               "units still to do") from None
            self.final = store.experiment(self.exp_id)
        self.seconds += time.perf_counter() - t0


def _follow_handed_over(db_path, exp_id: int, cfg: Config, n_runs: int, dev: str,
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
        status = _follow(events, exp_id, cfg.name, n_runs, console)
        row = client.read("experiment", experiment_id=exp_id) or {}
    status = row.get("status", status)
    message = row.get("message") or ""
    if status != "done":
        message = f"{status}: {message}"
    return Trained(exp_id, n_runs, row.get("device") or dev, time.perf_counter() - t0,
                   message, handed_over=True)


def _end(db_path, exp_id: int, status: str, message: str) -> None:
    from moelab.db import StoreLocked, open_store
    try:
        with open_store(db_path) as store:
            store.set_experiment_status(exp_id, status, message=message)
    except StoreLocked:
        from moelab.engine.service.client import ServiceClient
        with ServiceClient(db_path) as client:
            client.request("adopt", experiment_id=exp_id, status=status, message=message)


def _train_with_bar(cfg: Config, units, n_models: int, dev: str, sink, console: Console):
    from moelab.engine.executors.base import UnitDone, UnitProgress
    from moelab.engine.executors.inprocess import InProcessExecutor
    work_total = sum(u.work for u in units)
    state = {"stored": 0, "units": 0, "runs": 0}

    def on_event(ev) -> None:
        if isinstance(ev, UnitProgress):
            _show(bar, task, n_models, {
                "work_done": state["stored"] + ev.step * ev.n_models,
                "work_total": work_total, "batch": state["units"] + 1,
                "n_batches": len(units), "step": ev.step, "steps": ev.steps,
                "loss": ev.loss, "device": ev.device})
        elif isinstance(ev, UnitDone):
            sink(ev.unit, ev.result)
            state["stored"] += ev.unit.work
            state["units"] += 1

    with _bar(console) as bar:
        task = bar.add_task(cfg.name, total=n_models, steps="", loss="…", device=dev)
        InProcessExecutor().run(units, on_event, lambda: False)
        bar.update(task, completed=n_models)
