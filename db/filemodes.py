"""Private files: what moelab creates (the database, its WAL, DuckDB's spill folder) is its
owner's alone, and it will not write files that another user owns.

DuckDB creates the database, recreates the WAL at every checkpoint and makes its temp folder
with the process umask, so the umask is what decides their modes: writable opens tighten
it to 077 (files 0600, folders 0700). MOELAB_UMASK (octal, e.g. 027 to let the group read)
replaces it; engine/service/safefiles.py reads the same variable for the service's files.
Standard library only.
"""

from __future__ import annotations

import os
import pathlib
import stat

from .errors import StoreError

UMASK_VAR = "MOELAB_UMASK"
PRIVATE = 0o077


def umask_setting() -> int | None:
    """The umask the user asked for in MOELAB_UMASK, or None."""
    raw = os.environ.get(UMASK_VAR, "").strip()
    if not raw:
        return None
    try:
        value = int(raw, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise StoreError(f"{UMASK_VAR}={raw!r} is not an octal umask like 077 or 027")
    return value


def apply_umask() -> int:
    """Set this process's umask: MOELAB_UMASK when given, else the current one plus 077."""
    wanted = umask_setting()
    current = os.umask(0o077)
    new = wanted if wanted is not None else current | PRIVATE
    os.umask(new)
    return new


def check_writable_target(path: pathlib.Path) -> None:
    """Refuse a database another user owns (or planted a link to), or one that is not a
    regular file; its WAL and spill folder beside it likewise."""
    check_regular(path)
    for candidate in (path, pathlib.Path(f"{path}.wal"), pathlib.Path(f"{path}.tmp")):
        refuse_foreign(candidate)


def check_regular(path: pathlib.Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as err:
        raise StoreError(f"cannot use {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path} is a directory, not a database file; pass a file path to --db")
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"{path} is not a regular file ({_kind(st.st_mode)}); pass a DuckDB "
                         "database file to --db")


def refuse_foreign(path: pathlib.Path) -> None:
    """A file (or link) at `path` that another user owns is refused."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if st.st_uid != os.getuid():
        what = "a link owned by" if stat.S_ISLNK(st.st_mode) else "owned by"
        raise StoreError(f"{path} is {what} {_user(st.st_uid)}, not you; moelab will not "
                         "write files another user controls (move it away, or read it "
                         "without writing: see `Shared machines` in docs/service.md)")


def _user(uid: int) -> str:
    try:
        import pwd
        return f"user {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"
