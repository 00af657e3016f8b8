"""Training crosscoders for `moelab crosscode`: on the lab service, or here in the foreground,
and the summary printed at the end (the three claims of the crosscoder paper, measured)."""

from __future__ import annotations

from rich.console import Console


def on_service(raw: dict, name: str, preset, quick: bool, path, device: str | None) -> int | None:
    """Queue the crosscoders (after the preset's models) on the running service and follow
    them here; the service checks the runs and refuses what it cannot diff."""
    from moelab.engine.service.client import ServiceClient
    from moelab.foreground import follow
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
            status = follow(events, eid, name, 1, console)
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
    from moelab.foreground import train_here
    t = train_here(cfg, path, None, quick, device, console)
    if t.message.startswith(("failed", "cancelled")):
        console.print(f"[red]experiment {t.experiment_id} {t.message}")
        return None
    if not t.handed_over:
        console.print(f"[dim]crosscoders trained in {t.seconds:.1f} s on {t.device}[/]")
    return t.experiment_id


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
