"""Private files: what moelab creates (the database, its WAL, DuckDB's spill folder) is its
owner's alone, and it will not write files that another user owns.

DuckDB creates the database, recreates the WAL at every checkpoint and makes its temp folder
with the process umask, so the umask is what decides their modes: writable opens tighten
it to 077 (files 0600, folders 0700). MOELAB_UMASK (octal, e.g. 027 to let the group read)
replaces it; the service's side files (engine/service/safefiles.py) use the same helpers.
Files of the lab's own (side files, Arrow replies) are opened without following links and
must be regular files this user owns (open_private). Standard library only: the client path
imports this.
"""

from __future__ import annotations

import errno
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
        raise StoreError(f"{path} is {what} {user_name(st.st_uid)}, not you; moelab will not "
                         "write files another user controls (move it away, or read it "
                         "without writing: see `Shared machines` in docs/service.md)")


class UnsafeFile(StoreError):
    """A lab file that is a link, not a plain file, or someone else's."""


_LINK = ("is a symbolic link; the lab does not follow links for its own files (another user "
         "may have planted it): remove it")


def open_private(path: pathlib.Path, flags: int, mode: int = 0o600,
                 dir_fd: int | None = None) -> int:
    """os.open without following a link at `path` (its name inside `dir_fd` when given);
    the file must be a regular file that this user owns. Returns the descriptor."""
    where = path.name if dir_fd is not None else path
    try:
        fd = os.open(where, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeFile(f"{path} {_LINK}") from None
        raise
    try:
        check_own(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_dir(path: pathlib.Path, create: bool = False) -> int:
    """A descriptor of folder `path` (made 0700 when absent and `create`), refused unless it
    is a real folder (not a link) that this user owns and nobody else may enter. Files
    opened through it (dir_fd) stay inside it even if someone renames the path meanwhile."""
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = _LINK if os.path.islink(path) else "is not a folder; remove it"
            raise UnsafeFile(f"{path} {kind}") from None
        raise
    try:
        st = os.fstat(fd)
        check_own(path, st, folder=True)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UnsafeFile(f"{path} can be entered by other users (mode "
                             f"{st.st_mode & 0o777:03o}); it must be 0700: `chmod 700` it")
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_own(path: pathlib.Path, st: os.stat_result, folder: bool = False) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeFile(f"{path} {_LINK}")
    if st.st_uid != os.getuid():
        raise UnsafeFile(f"{path} belongs to {user_name(st.st_uid)}, not you; the lab will "
                         "not use files another user controls: remove it or use another --db")
    if folder and not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"{path} is not a folder; remove it or use another --db")
    if not folder and not (stat.S_ISREG(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        raise UnsafeFile(f"{path} is not a regular file; remove it or use another --db")


def user_name(uid: int) -> str:
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
