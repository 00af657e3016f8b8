"""Small text helpers shared by the screens."""

from __future__ import annotations

FIG4_SETUPS = {(2, 1): "A", (3, 1): "B", (3, 2): "C"}  # (n_features, d_hidden) -> paper's name


def bar(fraction: float | None, width: int = 12) -> str:
    f = 0.0 if fraction is None else max(0.0, min(1.0, float(fraction)))
    full = round(f * width)
    return "█" * full + "░" * (width - full) + f" {f * 100:3.0f}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def num(value, digits: int = 4) -> str:
    if value is None:
        return "∅"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def setup_label(n_features: int, d_hidden: int, n_experts: int, expert: int) -> str:
    """The paper's setup (4.A, 4.B, 4.C) or the shape, and the expert counted from 0 as in
    the views, the CLI and the figures: "4.C expert 1 of 2"."""
    name = FIG4_SETUPS.get((n_features, d_hidden))
    where = f"4.{name}" if name else f"n={n_features} m={d_hidden}"
    return f"{where} expert {expert} of {n_experts}"


def running_line(running: dict | None) -> str:
    if not running:
        return ""
    done, total = running.get("work_done") or 0, running.get("work_total") or 0
    frac = done / total if total else 0.0
    loss = running.get("loss")
    eta = running.get("eta_seconds")
    # Between a unit's start and its first step there is no step or loss yet: say so.
    where = (f"step {running.get('step')}/{running.get('steps')} · loss {num(loss, 3)}"
             if running.get("steps") else "starting unit …")
    return (f"training #{running.get('experiment_id')} {running.get('name') or ''} "
            f"{frac * 100:.0f}% · batch {running.get('batch')}/{running.get('n_batches')} "
            f"{where}" + (f" · eta {duration(eta)}" if eta is not None else ""))
