"""The files a lab service keeps beside its database, and how clients find them.

For `/data/lab.duckdb`:
  /data/lab.duckdb.sock          the API socket (mode 0600)
  /data/lab.duckdb.service.json  pid, socket, log; locked (flock) while the service lives
  /data/lab.duckdb.service.log   the service's log

None of them is opened through a symbolic link, and the service refuses to run while one of
them belongs to another user (safefiles.py).

A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS). When
`<db>.sock` is longer, the socket goes to a private directory instead ($XDG_RUNTIME_DIR, else
/tmp/moelab-<uid>, mode 0700) under a name hashed from the database path, so a client
computes the same place without asking anyone.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from moelab.db.paths import resolve_db  # noqa: F401  (clients resolve --db here)

from ..client import ClientError

_SUN_PATH_MAX = 100  # below both platforms' limits, with room for the NUL


@dataclass(frozen=True)
class ServicePaths:
    db: Path
    socket: Path
    info: Path
    log: Path

    @classmethod
    def of(cls, db: str | os.PathLike) -> ServicePaths:
        db = Path(db).expanduser().absolute()
        return cls(db=db, socket=socket_path(db), info=Path(f"{db}.service.json"),
                   log=Path(f"{db}.service.log"))


def check_db_file(db: Path) -> None:
    """A --db that exists must be a regular file: DuckDB would hang opening a FIFO."""
    try:
        st = db.stat()
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise ClientError(f"{db} is a directory, not a database file; pass a file path to --db")
    if not stat.S_ISREG(st.st_mode):
        raise ClientError(f"{db} is not a regular file (a FIFO, socket or device); pass a "
                          "DuckDB database file to --db")


def socket_path(db: Path) -> Path:
    beside = Path(f"{db}.sock")
    if len(os.fsencode(str(beside))) <= _SUN_PATH_MAX:
        return beside
    import hashlib  # only for long paths; clients import this module on every command
    digest = hashlib.sha256(os.fsencode(str(db))).hexdigest()[:20]
    return private_dir() / f"{digest}.sock"


def private_dir() -> Path:
    """A directory only this user can enter, for sockets whose natural path is too long."""
    import tempfile
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and _is_private(Path(runtime)):
        base = Path(runtime) / "moelab"
    else:
        base = Path(tempfile.gettempdir()) / f"moelab-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    if not _is_private(base):
        raise OSError(f"{base} must belong to you with mode 0700 to hold the lab's socket; "
                      "remove it or fix its mode")
    if len(os.fsencode(str(base))) > _SUN_PATH_MAX - 26:
        raise OSError(f"no short enough directory for the lab's socket (tried {base}); "
                      "set TMPDIR to a short path")
    return base


def _is_private(path: Path) -> bool:
    st = path.lstat()  # a link planted in /tmp must not lead the socket elsewhere
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def read_info(paths: ServicePaths) -> dict | None:
    """What the service wrote about itself, or None (absent, being written, or corrupt)."""
    from .safefiles import UnsafeFile, open_private
    try:
        fd = open_private(paths.info, os.O_RDONLY)
    except (OSError, UnsafeFile):
        return None  # absent, or a link or someone else's file: nothing to believe
    try:
        with os.fdopen(fd, "rb") as fh:
            info = json.loads(fh.read(1 << 16))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True
