"""A damaged write-ahead log (`<db>.wal`) is said, never silently dropped.

What DuckDB (2.0) does with a damaged WAL, found by damaging one after a kill -9:
- a checksum that does not match (flipped bytes), a wrong header: the open fails with
  "Failure while replaying WAL file ...";
- a WAL cut short, zeroed or random bytes: the open succeeds and replays the entries up to
  the damage, silently; the next write overwrites the log, and the changes after the damage
  (the last experiment) are gone.

So before the open we read the log's framing (header, then entries of `size, checksum,
payload`, each transaction ending with a WAL_FLUSH entry): a log that does not end cleanly
on a committed transaction is copied aside (`<db>.wal.bad-<time>`, private) before DuckDB can
overwrite it, and the user is told in one line; a log DuckDB refuses is copied aside too, and
the error says how to open the database without it. `moelab status` lists the copies.
Standard library only; checksums are left to DuckDB.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pathlib
import struct

from .filemodes import open_private

log = logging.getLogger("moelab.db")

_WAL_VERSION, _WAL_FLUSH = 98, 100  # DuckDB's WALType values
_FRAMED_VERSION = 2  # the layout read here; other versions are left to DuckDB
COPY_MARK = ".wal.bad-"


def wal_path(db: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(f"{db}.wal")


def snapshot(db: pathlib.Path) -> tuple | None:
    """What identifies the log's present content (None: no log, or an empty one)."""
    try:
        st = wal_path(db).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns) if st.st_size else None


def problem(wal: pathlib.Path) -> str | None:
    """Why DuckDB would not replay all of `wal`, or None when it ends on a commit (or is of
    a layout this check does not know)."""
    try:
        with open(wal, "rb") as fh:
            return _framing_problem(fh, os.fstat(fh.fileno()).st_size)
    except OSError as err:
        return f"it cannot be read ({err.strerror or err})"


def _framing_problem(fh, size: int) -> str | None:
    head = fh.read(4096)
    version, end = _header(head)
    if end is None:
        return "it does not start with a write-ahead log header"
    if version != _FRAMED_VERSION:
        return None
    pos, last, entries = end, None, 0
    while pos < size:
        fh.seek(pos)
        frame = fh.read(19)  # size, checksum, then the entry's type field (2 + 1 bytes)
        if len(frame) < 16:
            return f"it ends inside an entry at byte {pos} of {size}"
        length = struct.unpack_from("<Q", frame)[0]
        if length > size - pos - 16:
            return f"it ends inside an entry at byte {pos} of {size}"
        last = frame[18] if len(frame) == 19 and frame[16:18] == b"\x64\x00" else None
        pos += 16 + length
        entries += 1
    if entries and last != _WAL_FLUSH:
        return "its last transaction has no commit mark"
    return None


def _header(data: bytes) -> tuple[int | None, int | None]:
    """(version, where the header ends) of DuckDB's WAL header: fields of a u16 id and a
    varint (the database identifier: a count, then that many varints), ended by 0xffff."""
    pos, fields = 0, {}
    try:
        while True:
            field = struct.unpack_from("<H", data, pos)[0]
            pos += 2
            if field == 0xFFFF:
                break
            if field in fields or (field != 100 and 100 not in fields):
                return None, None  # not a header: it starts with the entry's type
            if field not in (100, 101, 102, 103):
                return -1, pos  # a header of a newer layout: left to DuckDB
            value, pos = _varint(data, pos)
            if field == 100 and value != _WAL_VERSION:
                return None, None
            if field == 102:
                for _ in range(value):
                    _, pos = _varint(data, pos)
            fields[field] = value
    except (struct.error, IndexError):
        return None, None
    if fields.get(100) != _WAL_VERSION or 101 not in fields:
        return None, None
    return fields[101], pos


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def keep_copy(db: pathlib.Path, make: bool = True) -> pathlib.Path | None:
    """Copy the log aside, private, named by its last write (the same damaged log opened
    twice is copied once). None when no copy is there and none could (or may: `make`
    false, a read-only open) be made."""
    wal = wal_path(db)
    try:
        st = wal.stat()
        stamp = dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y%m%d-%H%M%S")
        copy = pathlib.Path(f"{db}{COPY_MARK}{stamp}")
        try:
            if copy.lstat().st_size == st.st_size:
                return copy
            copy = pathlib.Path(f"{copy}-{os.getpid()}")
        except FileNotFoundError:
            pass
        if not make:
            return None
        fd = open_private(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with open(wal, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        return copy
    except Exception as err:  # noqa: BLE001  (the message says no copy was kept, and why)
        log.warning("moelab: could not copy the write-ahead log %s aside: %s", wal, err)
        return None


def last_write(db: pathlib.Path) -> str:
    try:
        return dt.datetime.fromtimestamp(wal_path(db).stat().st_mtime).strftime(
            "%Y-%m-%d %H:%M:%S")
    except OSError:
        return "its last write"


def kept(copy: pathlib.Path | None) -> str:
    return f"the log as it was is kept at {copy}" if copy else "no copy of the log was kept"


def warn_partial(db: pathlib.Path, why: str, copy: pathlib.Path | None) -> None:
    """The open went on, replaying the log up to the damage: say so, once, in one line."""
    log.warning("moelab: the write-ahead log %s could not be replayed whole (%s): the last "
                "changes, committed up to %s, may be lost; %s (docs/service.md: `A damaged "
                "write-ahead log`)", wal_path(db), why, last_write(db), kept(copy))


def refused_message(db: pathlib.Path, reason: str, copy: pathlib.Path | None) -> str:
    """DuckDB refused the log: what happened and how to open the database without it."""
    wal = wal_path(db)
    return (f"the write-ahead log {wal} could not be replayed ({reason}); the changes "
            f"committed up to {last_write(db)} that it holds are not in the database; "
            f"{kept(copy)}; to open the database without them, remove the log (`rm {wal}`) "
            "and try again (docs/service.md: `A damaged write-ahead log`)")


def copies(db: pathlib.Path) -> list[pathlib.Path]:
    """The damaged logs kept beside `db` (for `moelab status`)."""
    prefix = f"{db.name}{COPY_MARK}"
    try:
        return sorted(p for p in db.parent.iterdir() if p.name.startswith(prefix))
    except OSError:
        return []
