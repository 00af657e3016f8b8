"""Paper figures as files, drawn with matplotlib (Agg) from a lab client's reads.

`export(client, kind, experiment_id, out)` writes one figure or table; `KINDS` lists them.
Nothing here opens the database: every number comes through `client.read(...)`, so the same
code works beside a running lab service and straight from the file.
"""

from .data import FigureError, Source
from .kinds import KINDS

__all__ = ["KINDS", "FigureError", "Source", "export"]


def export(*args, **kwargs):
    """See moelab.figures.render.export (imported on use: it loads matplotlib)."""
    from .render import export as _export
    return _export(*args, **kwargs)
