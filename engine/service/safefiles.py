"""The lab's own files beside the database, opened so that another user cannot aim them.

In a folder others can write (/tmp, a shared project folder), another user could plant a
symbolic link named `lab.duckdb.service.log` pointing at a file of yours, and the service
would append to it; or leave a file of their own there for the service to trust. So every
side file is opened without following links (O_NOFOLLOW), must be a regular file you own,
and the service refuses to start while any of the lab's files belong to someone else.

Modes: processes of moelab run with umask 077 (files 0600, folders 0700) unless
MOELAB_UMASK says otherwise. The helpers live in db/filemodes.py (one copy for the database
and the service; standard library only, so clients may import this).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from moelab.db.filemodes import (  # noqa: F401  (re-exported: the service's names for them)
    UnsafeFile,
    apply_umask,
    check_own,
    open_private,
    user_name,
)


def check_lab_files(paths) -> None:
    """Refuse to run while a file of this lab (database, WAL, side files) is a link planted
    by someone else, or is owned by someone else."""
    db = paths.db
    for path in (db, Path(f"{db}.wal"), paths.info, paths.log, Path(f"{paths.log}.1"),
                 paths.socket, Path(f"{db}.service.query")):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if path in (db, Path(f"{db}.wal")) and stat.S_ISLNK(st.st_mode) \
                and st.st_uid == os.getuid():
            continue  # your own link to your database is your choice
        check_own(path, st)
    spill = Path(f"{db}.tmp")  # DuckDB's spill folder: a planted link would receive our data
    try:
        check_own(spill, spill.lstat(), folder=True)
    except FileNotFoundError:
        pass

