"""A finished experiment's tables in a file, from the process that trained it to the store.

The worker (or a foreground run that finds the file held by a service) writes the chunks
for Store.write_runs here; the service loads them, stores them in one transaction and
deletes the file. Written to a temporary name and renamed, so a half-written file is never
taken for a result. The file is pickle: only this user's own processes write it (the
socket and the database directory are theirs).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path


def save_result(path: Path, chunks: list[dict], summary: dict) -> None:
    tmp = Path(f"{path}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump({"chunks": chunks, "summary": summary}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_result(path: Path) -> tuple[list[dict], dict]:
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    return data["chunks"], data["summary"]


def summary_of(result) -> dict:
    """The numbers a finished experiment reports (an ExperimentResult's)."""
    ev = result.eval_loss
    return {"n_runs": len(result.runs), "n_chosen": int(result.chosen.sum()),
            "eval_loss_min": float(ev.min()), "eval_loss_max": float(ev.max()),
            "seconds": float(result.seconds), "device": result.device}


def summary_line(summary: dict) -> str:
    return (f"{summary['n_runs']} runs ({summary['n_chosen']} chosen), eval loss "
            f"{summary['eval_loss_min']:.4g} .. {summary['eval_loss_max']:.4g}, trained in "
            f"{summary['seconds']:.1f} s on {summary['device']}")
