"""REPORT.md: each claim of the paper next to what our runs show, in numbers, with a plain
verdict (agrees / partly / differs) computed from those numbers by verdicts.py: each names
its measure and threshold, uses every seed, and does not rest on one sample."""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Callable
from pathlib import Path

from . import report_crosscoder, report_lens, report_lm, report_models, report_sweeps
from .data import FigureError, Source
from .render import source as open_source
from .report_format import short


def write_report(client, outcomes: list, path: Path, quick: bool, seeds: int | None,
                 train_seconds: float, total_seconds: float, db_path: Path) -> None:
    verdicts: list[tuple[str, str, str]] = []  # (preset, claim, verdict)
    body: list[str] = []
    for o in outcomes:
        body += [f"## {o.preset}", ""]
        if o.status != "done":
            body += [f"Not reproduced: experiment {o.experiment_id} {o.status}"
                     f"{': ' + o.message if o.message else ''}.", ""]
            continue
        src = open_source(client, o.experiment_id)
        body += [f"Experiment {o.experiment_id} ({src.experiment.get('name')}), "
                 + ("reused" if o.reused else f"trained in {o.seconds:.0f} s") + ". Files: "
                 + ", ".join(f"[{f}]({f})" for f in o.files) + ".", ""]
        try:
            for claim, ours, verdict in SECTIONS[o.preset](src):
                body += [f"**Paper:** {claim}", "", ours, "", f"**Verdict:** {verdict.text()}",
                         ""]
                verdicts.append((o.preset, claim, verdict.word))
        except FigureError as e:
            body += [f"Not measurable: {e}", ""]
    body += report_crosscoder.section(client)  # crosscoder experiments stored in this file
    body += report_lm.section(client)  # lm experiments: MoE Lens on language models
    head = [
        "# moelab reproduction report", "",
        "Chaudhari, Nuer, Thorstenson (2025), *Sparsity and Superposition in Mixture of "
        "Experts*: each claim, and what our runs show.", "",
        f"- written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.machine()}), database `{db_path}`",
        f"- presets {'--quick' if quick else 'at full size'}"
        f"{f', --seeds {seeds}' if seeds else ''}; training {train_seconds:.0f} s, "
        f"total wall time {total_seconds:.0f} s",
        "- --quick shrinks grids, seeds and steps: its numbers are a smoke test of the claims, "
        "not a replication; run without --quick for the paper's sizes.",
        "- every verdict names its measure and threshold, uses every seed (mean ± 95 % "
        "interval), and is recomputed with each sample left out: one that a single sample "
        "would flip says \"partly\".", "",
        "## Summary", "", "| preset | claim | verdict |", "|---|---|---|",
    ]
    head += [f"| {p} | {short(c)} | {v} |" for p, c, v in verdicts]
    path.write_text("\n".join(head + [""] + body))


SECTIONS: dict[str, Callable[[Source], list]] = {
    "tms-classic": report_sweeps.tms_classic, "fig1-2": report_models.fig1_2,
    "fig3": lambda src: report_sweeps.fig3(src) + report_lens.fig3(src),  # + MoE Lens
    "fig4": report_sweeps.fig4, "fig5": report_sweeps.fig5,
    "fig6-init": report_models.fig6_init, "table1": report_models.table1,
}
