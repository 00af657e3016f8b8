"""`moelab import npz`: the authors' phase-diagram files as one experiment. Every file is
read and checked here first, so a bad one is refused before anything is written or sent;
then their arrays are stored in one transaction (engine/service/import_ops.py), by the lab
service when one holds the file, else through a Store opened here. The experiment is marked
imported (preset "import", each run's config.source and the runs view's imported_from name
the file and its save time)."""

from __future__ import annotations

from pathlib import Path

from moelab.errors import UsageError


def import_files(db: str | Path, files: list[str], name: str | None = None) -> tuple[int, int]:
    """(experiment id, runs stored)."""
    from moelab.npz_format import read

    parsed = [read(f) for f in files]
    seen: dict[tuple, Path] = {}
    for pf in parsed:
        if pf.setup in seen:
            raise UsageError(f"{seen[pf.setup]} and {pf.path} hold the same setup "
                             f"(n, m, E) = {pf.setup}; import them separately")
        seen[pf.setup] = pf.path
    payload = [{"file": pf.path.name, "saved_at": pf.saved_at, "config": pf.config,
                "grid_keys": pf.grid_keys, "final_losses": pf.final_losses, "W": pf.W}
               for pf in parsed]
    client = _service(Path(db))
    if client is not None:
        with client:
            return _through_service(client, Path(db), payload, name)
    return _direct(Path(db), payload, name)


def _service(db: Path):
    """A client of the lab service holding db, or None when none answers."""
    from moelab.engine.service.client import ServiceClient, ServiceUnavailable
    try:
        client = ServiceClient(db)
    except ServiceUnavailable:
        return None
    try:
        client.request("ping")
    except BaseException as err:
        client.close()
        if isinstance(err, ServiceUnavailable):
            return None
        raise
    return client


def _through_service(client, db: Path, payload: list[dict], name: str | None
                     ) -> tuple[int, int]:
    from moelab.engine.service.protocol import MAX_REQUEST, encode
    size = len(encode({"op": "import_npz", "args": {"files": payload, "name": name}}))
    if size > MAX_REQUEST:
        raise UsageError(f"these files are too large to import through the running lab "
                         f"service ({size / 2**20:.1f} MiB, at most {MAX_REQUEST / 2**20:.0f} "
                         f"MiB a request); import fewer at a time, or stop the service "
                         f"(`moelab engine stop --db {db}`) and import directly")
    out = client.request("import_npz", files=payload, name=name)
    return int(out["experiment_id"]), int(out["n_runs"])


def _direct(db: Path, payload: list[dict], name: str | None) -> tuple[int, int]:
    from moelab.db import StoreLocked, open_store
    from moelab.engine.service.import_ops import import_phase_files
    try:
        store = open_store(db)
    except StoreLocked:  # a service that is starting, or not answering
        raise UsageError(f"{db} is held by a lab service that does not answer; "
                         f"`moelab engine status --db {db}` says what it does") from None
    with store:
        return import_phase_files(store, payload, name)
