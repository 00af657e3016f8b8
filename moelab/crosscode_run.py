"""Training crosscoders for `moelab crosscode`: on the lab service, or here in the foreground,
and the summary printed at the end (the three claims of the crosscoder paper, measured)."""

from __future__ import annotations

import time
from dataclasses import replace

from rich.console import Console


def on_service(raw: dict, name: str, preset, quick: bool, path, device: str | None) -> int | None:
    """Queue the crosscoders (after the preset's models) on the running service and follow
    them here; the service checks the runs and refuses what it cannot diff."""
    from moelab.engine.service.client import ServiceClient
    from moelab.foreground import _follow
    console = Console(stderr=True)
    with ServiceClient(path) as client:
        events = client.events()
        if preset is not None:
            models = preset.models(quick)
            models_name = f"{name} (models)"
            mid = client.submit(models, name=models_name)
            raw = dict(raw, source={"experiment": mid})
            console.print(f"[dim]experiment {mid} trains the models, then the crosscoders[/]")
        eid = client.submit(raw, name=name)
        console.print(f"[dim]a lab service holds {path}: experiment {eid} is queued on it and "
                      "followed here (Ctrl-C cancels it)[/]")
        try:
            status = _follow(events, eid, name, 1, console)
        except KeyboardInterrupt:
            console.print(f"[yellow]experiment {eid} {client.cancel(eid)}")
            raise
        row = client.read("experiment", experiment_id=eid) or {}
    if row.get("status", status) != "done":
        console.print(f"[red]experiment {eid} {row.get('status')}[/]: {row.get('message')}")
        return None
    return eid


def here(raw: dict, name: str, preset, quick: bool, path, device: str | None) -> int | None:
    """Train in this process: the preset's models first (as `moelab run` would), then the
    crosscoders, each unit stored as it finishes."""
    from moelab.engine.crosscoder_config import from_dict
    console = Console(stderr=True)
    if preset is not None:
        from moelab.engine.config import from_dict as toy_config
        from moelab.foreground import train_and_store
        models = toy_config(preset.models(quick), name=f"{name} (models)")
        t = train_and_store(models, path, None, quick, device, console)
        if not t.message or t.message.startswith(("failed", "cancelled")):
            console.print(f"[red]the models' experiment {t.experiment_id} {t.message}")
            return None
        console.print(f"[dim]experiment {t.experiment_id}: the models, {t.message}[/]")
        raw = dict(raw, source={"experiment": t.experiment_id})
    return _train_here(from_dict(raw), path, quick, device, console)


def _train_here(cfg, path, quick: bool, device: str | None, console: Console) -> int | None:
    from moelab.db import DiskFull, open_read_only, open_store
    from moelab.engine.device import resolve_device
    from moelab.engine.families import family
    from moelab.engine.plan import unit_work_default
    from moelab.engine.service.owners import foreground_mark
    from moelab.foreground import _end, _follow_handed_over, _HandedOver, _train_with_bar
    from moelab.foreground import _UnitSink as UnitSink
    fam = family("crosscoder")
    dev = resolve_device(device or cfg.train.device)
    work = unit_work_default()
    with open_read_only(path) as store:  # checks and weights; a refusal writes nothing
        units = fam.plan(cfg, unit_work=work, device=dev, store=store)
    n_runs = sum(u.n_runs for u in units)
    with open_store(path) as store:
        eid = store.create_experiment(cfg.name, None, cfg.to_json(), status="running",
                                      quick=quick)
        store.set_experiment_status(eid, "running", device=dev, owner=foreground_mark())
        store.set_plan(eid, n_runs, len(units), work)
    units = [replace(u, experiment_id=eid) for u in units]
    sink = UnitSink(path, eid)
    t0 = time.perf_counter()
    try:
        _train_with_bar(cfg, units, n_runs, dev, sink, console)
    except _HandedOver:
        t = _follow_handed_over(path, eid, cfg, n_runs, dev, console)
        return eid if not t.message.startswith(("failed", "cancelled")) else None
    except KeyboardInterrupt:
        _end(path, eid, "cancelled", "interrupted with Ctrl-C")
        raise
    except DiskFull:
        raise
    except Exception as e:
        _end(path, eid, "failed", f"{type(e).__name__}: {e}")
        raise
    console.print(f"[dim]crosscoders trained in {time.perf_counter() - t0:.1f} s on {dev}[/]")
    return eid


def print_summary(path, experiment_id: int) -> None:
    from rich.table import Table

    from moelab.figures.lab import connect
    from moelab.figures.report_crosscoder import claim_lines, setup_label
    client = connect(path)
    try:
        rows = _rows(client.read("crosscoder_summary", experiment_id=experiment_id))
        features = _rows(client.read("crosscoder_features", experiment_id=experiment_id))
    finally:
        client.close()
    table = Table(header_style="bold", title=f"experiment {experiment_id}: crosscoders")
    for c in ("run", "dense", "MoE", "FVE dense", "FVE MoE", "shared", "dense-only",
              "MoE-only", "dead", "density sh / d / m", "MCC dense", "MCC MoE"):
        table.add_column(c, justify="right")
    f = lambda v, fmt=".3f": "–" if v is None else format(v, fmt)  # noqa: E731
    for r in rows:
        table.add_row(str(r["run_id"]), str(r["dense_run_id"]),
                      f"{r['moe_run_id']} ({setup_label(r)})", f(r["fve_dense"]),
                      f(r["fve_moe"]), str(r["n_shared"]), str(r["n_dense_only"]),
                      str(r["n_moe_only"]), str(r["dead_latents"]),
                      " / ".join(f(r[k]) for k in ("density_shared", "density_dense_only",
                                                   "density_moe_only")),
                      f(r["mcc_dense"]), f(r["mcc_moe"]))
    out = Console()
    out.print(table)
    for line in claim_lines(rows, features):
        out.print(line)
    out.print(f"[dim]query them: moelab sql \"SELECT * FROM crosscoders WHERE experiment_id = "
              f"{experiment_id}\"[/]")


def _rows(cols: dict) -> list[dict]:
    from moelab.figures.data import as_rows
    return as_rows(cols)
