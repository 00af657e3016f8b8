"""Small text helpers of REPORT.md: numbers and markdown tables."""

from __future__ import annotations

import math


def fmt(v: float | None, nd: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}g}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[:n - 1].rsplit(" ", 1)[0] + " …"
