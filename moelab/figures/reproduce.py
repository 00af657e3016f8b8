"""`moelab reproduce`: train (or reuse) each requested preset, then write its figures and
REPORT.md into one folder.

Training goes to the lab service when one runs (queued, then awaited), else runs in this
process. A finished experiment of the same preset with an identical config is reused, so a
second `reproduce` only redraws.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from .data import FigureError
from .kinds import REPRODUCE as FIGURES
from .lab import connect, is_service
from .render import export

FINISHED = ("done", "failed", "cancelled")


@dataclass
class Outcome:
    preset: str
    experiment_id: int | None = None
    status: str = "queued"
    seconds: float = 0.0  # wall time to train (0 when reused)
    reused: bool = False
    message: str | None = None
    files: list[str] = field(default_factory=list)


def plan(figures: list[str]) -> list[str]:
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise FigureError(f"unknown figure {unknown[0]!r}; figures: {', '.join(FIGURES)}")
    return list(dict.fromkeys(figures)) or list(FIGURES)


def overrides(seeds: int | None, device: str | None) -> list[str]:
    sets = []
    if seeds is not None:
        if seeds < 1:
            raise FigureError("--seeds must be at least 1")
        sets.append(f"train.seeds={seeds}")
    if device:
        sets.append(f"train.device={json.dumps(device)}")
    return sets


def reproduce(db_path: Path, figures: list[str], quick: bool, seeds: int | None, out: Path,
              fmt: str = "png", device: str | None = None, fresh: bool = False,
              console: Console | None = None) -> list[Outcome]:
    from moelab.engine.presets import build_config

    console = console or Console(stderr=True)
    presets = plan(figures)
    sets = overrides(seeds, device)
    configs = {p: build_config(p, quick=quick, sets=sets) for p in presets}
    _check_out_dir(out)  # after every check of the arguments: a mistake leaves nothing behind
    t0 = time.perf_counter()
    outcomes = {p: Outcome(p) for p in presets}
    client = connect(db_path) if db_path.exists() else None
    try:
        if client is not None and not fresh:
            _find_reusable(client, configs, outcomes, console)
        todo = [p for p in presets if outcomes[p].experiment_id is None]
        if client is not None and is_service(client):
            _train_on_service(client, todo, quick, sets, outcomes, console)
        else:
            if client is not None:
                client.close()  # this process writes the file now; no reader may hold it
                client = None
            for p in todo:
                _train_here(db_path, p, configs[p], quick, outcomes[p], console)
        if client is None:
            client = connect(db_path)
        train_seconds = time.perf_counter() - t0
        for o in outcomes.values():
            if o.status == "done":
                _write_figures(client, o, out, fmt, console)
        from .report import write_report
        write_report(client, list(outcomes.values()), out / "REPORT.md", quick=quick,
                     seeds=seeds, train_seconds=train_seconds,
                     total_seconds=time.perf_counter() - t0, db_path=db_path)
    finally:
        if client is not None:
            client.close()
    console.print(f"[bold green]wrote {out}/REPORT.md[/] and "
                  f"{sum(len(o.files) for o in outcomes.values())} figure files in "
                  f"{time.perf_counter() - t0:.0f} s")
    return list(outcomes.values())


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FigureError(f"cannot create --out {out}: {e.strerror or e}") from None
    probe = out / ".moelab-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise FigureError(f"cannot write into --out {out}: {e.strerror or e}") from None


def _find_reusable(client, configs: dict, outcomes: dict, console: Console) -> None:
    for exp in reversed(client.read("experiments")):  # newest first
        p = exp.get("preset")
        if p in configs and outcomes[p].experiment_id is None and exp.get("status") == "done" \
                and _same_config(exp.get("config"), configs[p].to_json()):
            outcomes[p] = Outcome(p, exp["experiment_id"], "done", 0.0, reused=True)
            console.print(f"{p}: reusing experiment {exp['experiment_id']} (same config; "
                          "--fresh retrains)")


def _same_config(stored: str | None, wanted: str) -> bool:
    try:
        return stored is not None and json.loads(stored) == json.loads(wanted)
    except ValueError:
        return False


def _train_on_service(client, todo: list[str], quick: bool, sets: list[str], outcomes: dict,
                      console: Console) -> None:
    from moelab.engine.config import with_overrides
    from moelab.engine.presets import get
    for p in todo:  # queue everything first, so the service never waits on us
        raw = with_overrides(get(p).raw(quick), sets)
        outcomes[p].experiment_id = client.submit(raw, preset=p, quick=quick)
        console.print(f"{p}: queued as experiment {outcomes[p].experiment_id}")
    for p in todo:
        o, t0 = outcomes[p], time.perf_counter()
        while True:
            exp = client.read("experiment", experiment_id=o.experiment_id) or {}
            if exp.get("status") in FINISHED:
                break
            time.sleep(1.0)
        # A finished experiment's message is its summary line, not a problem: only a failed or
        # cancelled one's is kept (the exit status counts messages as problems).
        o.status = exp["status"]
        o.message = exp.get("message") if o.status != "done" else None
        o.seconds = time.perf_counter() - t0
        console.print(f"{p}: experiment {o.experiment_id} {o.status}")


def _train_here(db_path: Path, preset: str, cfg, quick: bool, o: Outcome,
                console: Console) -> None:
    from moelab.foreground import train_and_store
    t0 = time.perf_counter()
    try:
        trained = train_and_store(cfg, db_path, preset, quick, None, console)
    except Exception as e:  # the other presets still get their figures; the report says why
        o.status, o.message = "failed", f"{type(e).__name__}: {e}"
        console.print(f"[red]{preset}: failed: {o.message}")
        return
    o.experiment_id = trained.experiment_id
    o.status, o.seconds = "done", time.perf_counter() - t0
    console.print(f"{preset}: experiment {o.experiment_id}, {trained.n_runs} runs trained in "
                  f"{o.seconds:.1f} s on {trained.device}")


def _write_figures(client, o: Outcome, out: Path, fmt: str, console: Console) -> None:
    for kind, suffix, metric in FIGURES[o.preset]:
        ext = f".{fmt}" if suffix == "img" else suffix
        name = f"{o.preset}-{kind}{'-' + metric if metric else ''}{ext}"
        try:
            export(client, kind, o.experiment_id, out / name, metric=metric,
                   stability=kind == "phase-diagram")
        except FigureError as e:
            o.message = f"{name}: {e}"
            console.print(f"[red]{o.preset}: {e}")
            continue
        o.files.append(name)
