"""Storing the authors' phase-diagram files as one experiment through the Store's write API:
every file is read and checked first, so a bad one leaves nothing behind; then one unit of
runs per file, and the experiment is marked imported (preset "import", each run's
config.source and the runs view's imported_from name the file and its save time)."""

from __future__ import annotations

import json
from pathlib import Path

from moelab.errors import UsageError

PRESET = "import"


def import_files(db: str | Path, files: list[str], name: str | None = None) -> tuple[int, int]:
    """(experiment id, runs stored)."""
    from moelab.engine.npz_import import tables
    from moelab.npz_format import read

    parsed = [read(f) for f in files]
    seen: dict[tuple, Path] = {}
    for pf in parsed:
        if pf.setup in seen:
            raise UsageError(f"{seen[pf.setup]} and {pf.path} hold the same setup "
                             f"(n, m, E) = {pf.setup}; import them separately")
        seen[pf.setup] = pf.path
    chunks, offset = [], 0
    for pf in parsed:
        source = {"kind": "npz", "file": pf.path.name, "saved_at": pf.saved_at}
        chunk = tables(pf.W, pf.grid_keys, pf.final_losses, pf.config, source)
        chunk["runs"]["point"] = chunk["runs"]["point"] + offset  # unique across files
        offset += len(pf.W)
        chunks.append(chunk)
    name = name or "authors' " + ", ".join(pf.path.name for pf in parsed)
    config = {"name": name, "source": {"kind": "npz", "files": [
        {"file": pf.path.name, "saved_at": pf.saved_at, "setup": list(pf.setup)}
        for pf in parsed]}}
    return _store(Path(db), name, json.dumps(config), chunks, parsed), offset


def _store(db: Path, name: str, config: str, chunks: list, parsed) -> int:
    from moelab.db import StoreLocked, bulk, open_store
    try:
        store = open_store(db)
    except StoreLocked:
        raise UsageError(f"{db} is held by a running lab service; stop it with `moelab "
                         f"engine stop --db {db}` to import, then start it again") from None
    with store:
        for chunk in chunks:  # checked against the schema before anything is written
            bulk.prepare_chunk(chunk, store.chunk_columns())
        eid = store.create_experiment(name, PRESET, config, status="running")
        try:
            store.set_plan(eid, sum(len(pf.W) for pf in parsed), len(chunks), 0.0)
            for i, chunk in enumerate(chunks):
                store.write_unit(eid, i, chunk, {"device": "imported", "worker": "import npz",
                                                 "train_seconds": 0.0})
        except BaseException as e:
            store.set_experiment_status(eid, "failed", message=f"import failed: {e}")
            raise
        files = "; ".join(f"{pf.path.name} (saved {pf.saved_at})" for pf in parsed)
        store.set_experiment_status(eid, "done", message=f"imported from {files}",
                                    progress=1.0)
    return eid
