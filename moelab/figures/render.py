"""The figure kinds, and writing one to a file: checked first, written whole or not at all."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import usage
from .data import FigureError, Source
from .kinds import KINDS, Kind


def source(client, experiment_id: int, expert: int | None = None, metric: str | None = None,
           run_id: int | None = None, against: int | None = None, **phase) -> Source:
    """phase: step, color, stability (phase-diagram only)."""
    exp = client.read("experiment", experiment_id=int(experiment_id))
    if exp is None:
        raise FigureError(f"no experiment with id {experiment_id}; list them with "
                          "`moelab sql \"SELECT experiment_id, name, status FROM experiments\"`")
    return Source(client, int(experiment_id), exp, expert, metric, run_id, against, **phase)


def check_out(kind: Kind, out: Path) -> None:
    """Refuse a wrong suffix or an unwritable place before any work is done."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FigureError(f"cannot write {out}: directory {parent} does not exist")
    if out.is_dir():
        raise FigureError(f"cannot write {out}: it is a directory")
    if out.suffix.lower() not in kind.suffixes:
        raise FigureError(f"{kind.name} writes {' / '.join(kind.suffixes)} files, not "
                          f"{out.name!r}; pass e.g. --out {kind.name}{kind.suffixes[0]}")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise FigureError(f"cannot write {out}: permission denied")


def export(client, kind_name: str, experiment_id: int, out: str | Path,
           expert: int | None = None, metric: str | None = None, run_id: int | None = None,
           dpi: int = 200, against: int | None = None, step: int | None = None,
           color: str | None = None, stability: bool = False) -> Path:
    if kind_name not in KINDS:
        raise FigureError(f"unknown figure kind {kind_name!r}; kinds: {', '.join(KINDS)}")
    kind, out = KINDS[kind_name], Path(out)
    phase = {"step": step, "color": color, "stability": stability}
    if kind_name != "phase-diagram" and (step is not None or color or stability):
        raise FigureError("--step, --color and --stability are options of phase-diagram only")
    check_out(kind, out)
    src = source(client, experiment_id, expert, metric, run_id, against, **phase)
    if kind.draw is None:
        rows = usage.table(src)
        text = (usage.to_csv(rows) if out.suffix.lower() == ".csv"
                else usage.to_latex(rows, f"Expert usage by number of monosemantic features "
                                          f"({src.title})"))
        _write_whole(out, lambda tmp: tmp.write_text(text))
    else:
        import matplotlib.pyplot as plt

        from .style import RC
        with plt.rc_context(RC):
            fig = draw_kind(kind, src)
            try:
                _write_whole(out, lambda tmp: fig.savefig(tmp, dpi=dpi, format=out.suffix[1:]))
            finally:
                plt.close(fig)
    return out


def draw_kind(kind, src):
    """The matplotlib figure of a kind (drawn inside the RC style by the caller)."""
    module, func = kind.draw.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), func)(src)


def figure(client, kind_name: str, experiment_id: int, expert: int | None = None,
           metric: str | None = None, run_id: int | None = None, against: int | None = None,
           step: int | None = None, color: str | None = None, stability: bool = False):
    """The figure `export` would write, as a matplotlib Figure (lab.figure in a notebook);
    detached from pyplot, so Jupyter shows it once, as the cell's value."""
    if kind_name not in KINDS:
        raise FigureError(f"unknown figure kind {kind_name!r}; kinds: {', '.join(KINDS)}")
    kind = KINDS[kind_name]
    if kind.draw is None:
        raise FigureError(f"{kind_name} is a table, not a figure: export it as .csv or .tex")
    if kind_name != "phase-diagram" and (step is not None or color or stability):
        raise FigureError("step, color and stability are options of phase-diagram only")
    src = source(client, experiment_id, expert, metric, run_id, against, step=step,
                 color=color, stability=stability)
    import matplotlib.pyplot as plt

    from .style import RC
    with plt.rc_context(RC):
        fig = draw_kind(kind, src)
    plt.close(fig)
    return fig


def _write_whole(out: Path, write: Callable[[Path], object]) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent or ".")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode(out))  # mkstemp's 0600 would hide the figure from others
        os.replace(tmp, out)
    except OSError as e:
        raise FigureError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _file_mode(out: Path) -> int:
    if out.exists():
        return out.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
