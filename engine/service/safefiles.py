"""The lab's own files beside the database, opened so that another user cannot aim them.

In a folder others can write (/tmp, a shared project folder), another user could plant a
symbolic link named `lab.duckdb.service.log` pointing at a file of yours, and the service
would append to it; or leave a file of their own there for the service to trust. So every
side file is opened without following links (O_NOFOLLOW), must be a regular file you own,
and the service refuses to start while any of the lab's files belong to someone else.

Modes: processes of moelab run with umask 077 (files 0600, folders 0700) unless
MOELAB_UMASK says otherwise (db/filemodes.py reads the same variable for the database).
Standard library only: clients import this.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..client import ClientError

UMASK_VAR = "MOELAB_UMASK"


class UnsafeFile(ClientError):
    """A lab file that is a link, not a plain file, or someone else's."""


def apply_umask() -> int:
    """MOELAB_UMASK when given, else the current umask plus 077; returns the new umask."""
    raw = os.environ.get(UMASK_VAR, "").strip()
    wanted = None
    if raw:
        try:
            wanted = int(raw, 8)
        except ValueError:
            wanted = -1
        if not 0 <= wanted <= 0o777:
            raise ClientError(f"{UMASK_VAR}={raw!r} is not an octal umask like 077 or 027")
    current = os.umask(0o077)
    new = wanted if wanted is not None else current | 0o077
    os.umask(new)
    return new


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open without following a link at `path`; the file must be a regular file that
    this user owns. Returns the descriptor."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} is a symbolic link; the lab does not follow links for "
                             "its own files (another user may have planted it): remove it"
                             ) from None
        raise
    try:
        check_own(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_own(path: Path, st: os.stat_result, folder: bool = False) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"{path} is a symbolic link; the lab does not follow links for its "
                         "own files (another user may have planted it): remove it")
    if st.st_uid != os.getuid():
        raise UnsafeFile(f"{path} belongs to {user_name(st.st_uid)}, not you; the lab will "
                         "not use files another user controls: remove it or use another --db")
    if folder and not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"{path} is not a folder; remove it or use another --db")
    if not folder and not (stat.S_ISREG(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        raise UnsafeFile(f"{path} is not a regular file; remove it or use another --db")


def check_lab_files(paths) -> None:
    """Refuse to run while a file of this lab (database, WAL, side files) is a link planted
    by someone else, or is owned by someone else."""
    db = paths.db
    for path in (db, Path(f"{db}.wal"), paths.info, paths.log, Path(f"{paths.log}.1"),
                 paths.socket):
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


def user_name(uid: int) -> str:
    try:
        import pwd
        return f"user {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"uid {uid}"
