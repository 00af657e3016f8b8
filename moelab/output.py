"""Printing query results as a Rich table, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys

from rich import box
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        inner = ", ".join(_cell(x) for x in v[:6])
        return f"[{inner}{', …' if len(v) > 6 else ''}]"
    return str(v)


def _json_default(v):
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return str(v)


def print_rows(columns: list[str], rows: list[tuple], fmt: str = "table",
               title: str | None = None) -> None:
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")  # Unix tools expect LF, not CRLF
        w.writerow(columns)
        w.writerows(rows)
    elif fmt == "json":
        json.dump([dict(zip(columns, r, strict=True)) for r in rows], sys.stdout,
                  default=_json_default)
        sys.stdout.write("\n")
    else:
        cells = [[_cell(v) for v in r] for r in rows]
        table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD)
        for c in columns:
            table.add_column(c, no_wrap=True, min_width=min(len(c), 40), max_width=40)
        for r in cells:
            table.add_row(*r)
        # Wide result sets keep one line per row instead of folding into unreadable columns.
        widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(columns)]
        needed = sum(min(w, 40) + 3 for w in widths)
        console = Console()
        Console(width=max(console.width, needed)).print(table)
        if not rows:
            Console(stderr=True).print("[dim](no rows)[/dim]")
