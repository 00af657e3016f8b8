"""`moelab run lm-pair [--quick] [--set S.F=V] [--device D]`: small language models (the lm
family, docs/lm.md) trained on the lab service when one holds the file, else here, then a
summary beside MoE Lens' numbers (0.95 cosine, +5 % perplexity with one expert, over half
of the routing to a few experts).

Everything the user can get wrong (a field out of range, a corpus missing or empty, a
context longer than the text) is refused in one line, exit status 2, before anything is
written: the corpora are read and tokenized here first.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console

from moelab.cmdline import db_path
from moelab.errors import UsageError


def is_lm_preset(name: str | None) -> bool:
    from moelab.engine.families.lm.presets import LM_PRESETS
    return name in LM_PRESETS


def run_preset(args) -> int:
    from moelab.engine.config import parse_assignment, parse_value
    from moelab.engine.families.lm import from_dict, prepare
    from moelab.engine.families.lm.presets import LM_PRESETS
    if args.config is not None or args.sweeps or getattr(args, "control", None) is not None:
        raise UsageError(f"{args.preset} takes --quick, --set and --device; --config, --sweep "
                         "and --control apply to toy-model experiments")
    raw = LM_PRESETS[args.preset].build(args.quick)
    for text in args.sets:
        key, value = parse_assignment(text, "--set")
        if key.count(".") != 1:
            raise UsageError(f"--set {key}: name a field as section.field, e.g. model.d_model")
        section, field = key.split(".")
        raw.setdefault(section, {})[field] = parse_value(value)
    if args.device:
        raw.setdefault("train", {})["device"] = args.device
    files = raw.get("data", {}).get("files")
    if isinstance(files, dict):  # the lab service reads them from its own folder
        raw["data"]["files"] = {k: str(Path(v).expanduser().absolute()) if isinstance(v, str)
                                else v for k, v in files.items()}
    name = args.preset + (" --quick" if args.quick else "")
    cfg = from_dict(raw, name)  # a field out of range: exit 2, nothing written
    prepare(cfg)  # a corpus missing or empty, a context longer than the text: the same
    path = db_path(args)
    console = Console(stderr=True)
    from moelab.engine.families.lm import count
    from moelab.engine.service.client import service_running
    eid = _on_service(raw, name, path, console, count(cfg)) if service_running(path) else \
        _here(cfg, path, args, console)
    if eid is None:
        return 1
    print_summary(path, eid)
    return 0


def _here(cfg, path, args, console: Console) -> int | None:
    from moelab.foreground import train_here
    t = train_here(cfg, path, args.preset, args.quick, args.device, console)
    if t.message.startswith(("failed", "cancelled")):
        console.print(f"[red]experiment {t.experiment_id} {t.message}")
        return None
    console.print(f"[dim]trained in {t.seconds:.1f} s on {t.device}[/]")
    return t.experiment_id


def _on_service(raw: dict, name: str, path, console: Console, n_models: int) -> int | None:
    from moelab.engine.service.client import ServiceClient
    from moelab.foreground import follow
    with ServiceClient(path) as client:
        events = client.events()
        eid = client.submit(raw, name=name)
        console.print(f"[dim]a lab service holds {path}: experiment {eid} is queued on it and "
                      "followed here (Ctrl-C cancels it)[/]")
        try:
            follow(events, eid, name, n_models, console)
        except KeyboardInterrupt:
            console.print(f"[yellow]experiment {eid} {client.cancel(eid)}")
            raise
        row = client.read("experiment", experiment_id=eid) or {}
    if row.get("status") != "done":
        console.print(f"[red]experiment {eid} {row.get('status')}[/]: {row.get('message')}")
        return None
    return eid


def print_summary(path, experiment_id: int) -> None:
    from rich.table import Table

    from moelab.figures.data import as_rows
    from moelab.figures.lab import connect
    client = connect(path)
    try:
        runs = as_rows(client.read("lm_summary", experiment_id=experiment_id))
        evals = as_rows(client.read("lm_eval", experiment_id=experiment_id))
        lens = as_rows(client.read("lm_lens", experiment_id=experiment_id))
    finally:
        client.close()
    last = {r["run_id"]: max(e["step"] for e in evals if e["run_id"] == r["run_id"])
            for r in runs}
    final = [e for e in evals if e["step"] == last[e["run_id"]]]
    domains = sorted({e["domain"] for e in final})
    table = Table(header_style="bold", title=f"experiment {experiment_id}: held-out "
                  "perplexity per domain (with only the top expert at every layer)")
    for c in ("run", "model", "params (active)", "tokens/s", *domains):
        table.add_column(c, justify="right")
    for r in runs:
        cells = []
        for d in domains:
            e = next(x for x in final if x["run_id"] == r["run_id"] and x["domain"] == d)
            top1 = f" ({e['perplexity_top1']:.2f}, {100 * e['top1_increase']:+.1f} %)" \
                if e["perplexity_top1"] is not None else ""
            cells.append(f"{e['perplexity']:.2f}{top1}")
        label = r["model"] if r["model"] == "dense" else \
            f"moe E={r['n_experts']} k={r['k']}"
        table.add_row(str(r["run_id"]), label, f"{r['n_params']:,} ({r['n_active_params']:,})",
                      f"{r['tokens_per_second']:,.0f}", *cells)
    out = Console()
    out.print(table)
    for line in lens_lines(lens):
        out.print(line)
    out.print(f"[dim]query them: moelab sql \"SELECT * FROM lm_lens JOIN runs USING (run_id) "
              f"WHERE experiment_id = {experiment_id}\"[/]")


def lens_lines(lens: list[dict]) -> list[str]:
    """MoE Lens' three numbers measured here, per domain, beside the paper's."""
    if not lens:
        return []
    lines = ["MoE Lens (paper, DeepSeekMoE: hidden-state cosine up to 0.95; over 50 % of "
             "routing to a few experts):"]
    for d in sorted({x["domain"] for x in lens}):
        rows = [x for x in lens if x["domain"] == d]
        cos = max(x["cos_hidden"] for x in rows)
        half = min(x["n_for_half"] for x in rows)
        top = max(x["share_top1"] for x in rows)
        ent = sum(x["entropy_norm"] for x in rows) / len(rows)
        lines.append(f"  {d}: best layer's top-1 hidden cosine {cos:.3f}; top expert's weight "
                     f"share up to {top:.2f}; {half} expert(s) take half the decisions in "
                     f"the most concentrated layer; entropy / log E {ent:.2f}"
                     + ("" if math.isfinite(cos) else " (no tokens)"))
    return lines
