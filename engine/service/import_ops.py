"""Imported experiments: the authors' phase-diagram files as one experiment (issue 12).

The client reads and checks the files (moelab/npz_format.py), so a bad file is refused
before anything is sent; what arrives here is their arrays, per file. `import_phase_files`
turns them into store tables (engine/npz_import.py) and stores them in one transaction:
the service's `import_npz` op while a service holds the file, or `moelab import npz`
itself on a bare file. Either way an import is stored whole or not at all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..client import ClientError

if TYPE_CHECKING:
    from moelab.db import Store

    from .core import LabService

PRESET = "import"
FILE_KEYS = ("file", "saved_at", "config", "grid_keys", "final_losses", "W")


def import_ops(service: LabService) -> dict:
    """Ops to add to LabService.ops."""

    def import_npz(files: list, name: str | None = None) -> dict:
        eid, n_runs = import_phase_files(service.store, files, name)
        service.publish_status(eid, "done")  # open views reload
        return {"experiment_id": eid, "n_runs": n_runs}

    return {"import_npz": import_npz}


def import_phase_files(store: Store, files: list, name: str | None = None) -> tuple[int, int]:
    """(experiment id, runs stored) for files = [{file, saved_at, config, grid_keys (cells,
    2), final_losses (cells,), W (cells, E, m, n)}, ...], one setup each."""
    from moelab.db.imports import store_imported

    from ..npz_import import tables
    parsed = _checked(files)
    chunks, offset = [], 0
    for f in parsed:
        source = {"kind": "npz", "file": f["file"], "saved_at": f["saved_at"]}
        chunk = tables(f["W"], f["grid_keys"], f["final_losses"], f["config"], source)
        chunk["runs"]["point"] = chunk["runs"]["point"] + offset  # unique across files
        offset += len(f["W"])
        chunks.append(chunk)
    name = str(name or "authors' " + ", ".join(f["file"] for f in parsed))
    config = {"name": name, "source": {"kind": "npz", "files": [
        {"file": f["file"], "saved_at": f["saved_at"], "setup": list(_setup(f["W"]))}
        for f in parsed]}}
    names = "; ".join(f"{f['file']} (saved {f['saved_at']})" for f in parsed)
    eid = store_imported(store, name, PRESET, json.dumps(config), chunks,
                         {"device": "imported", "worker": "import npz", "train_seconds": 0.0},
                         f"imported from {names}")
    return eid, offset


def _setup(W: np.ndarray) -> tuple[int, int, int]:
    _, E, m, n = W.shape
    return n, m, E


def _checked(files: Any) -> list[dict]:
    """The files' arrays as numpy, or a ClientError of one line (nothing is written)."""
    if not isinstance(files, list) or not files:
        raise ClientError("import_npz needs a non-empty list of files")
    out, seen = [], {}
    for i, f in enumerate(files):
        if not isinstance(f, dict) or any(k not in f for k in FILE_KEYS):
            raise ClientError(f"import_npz: file {i} needs the keys {', '.join(FILE_KEYS)}")
        label = str(f["file"])
        if not isinstance(f["config"], dict):
            raise ClientError(f"import_npz: {label}: config must be an object")
        try:
            W, keys, losses = (np.asarray(f[k], dtype=np.float64)
                               for k in ("W", "grid_keys", "final_losses"))
        except (TypeError, ValueError):
            raise ClientError(f"import_npz: {label}: W, grid_keys and final_losses must be "
                              "arrays of numbers") from None
        if W.ndim != 4 or keys.ndim != 2 or keys.shape[1:] != (2,) or losses.ndim != 1 \
                or not len(W) == len(keys) == len(losses):
            raise ClientError(f"import_npz: {label}: W (cells, E, m, n), grid_keys (cells, 2) "
                              "and final_losses (cells,) do not fit together")
        if _setup(W) in seen:
            raise ClientError(f"{seen[_setup(W)]} and {label} hold the same setup (n, m, E) = "
                              f"{_setup(W)}; import them separately")
        seen[_setup(W)] = label
        out.append({"file": label, "saved_at": str(f["saved_at"]), "config": f["config"],
                    "W": W, "grid_keys": keys, "final_losses": losses})
    return out
