"""What every command module shares: the parser class, the --db option and its resolution.

A leaf module: moelab/cli.py assembles the command modules, and they import this, not cli.py,
so no import circle forms.
"""

from __future__ import annotations

import argparse
import sys

from moelab.errors import UsageError

DB_HELP = "the DuckDB file (default: $MOELAB_DB, else ./moelab.duckdb)"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        sys.stderr.write(f"moelab: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)


def db_path(args):
    """--db (or $MOELAB_DB, or ./moelab.duckdb), checked; imports no duckdb (~150 ms)."""
    from moelab.engine.service.paths import check_db_file, resolve_db
    path = resolve_db(getattr(args, "db", None))
    check_db_name(path)
    if not path.parent.is_dir():
        raise UsageError(f"database directory {path.parent} does not exist; create it or "
                         "pass another --db")
    check_db_file(path)
    return path


# The longest name moelab puts beside the database: <db>.service.log.1
_SIDE_SUFFIX = len(".service.log.1")


def check_db_name(path) -> None:
    """A --db the file system can hold, with room for the files beside it: a name over its
    limit (255 bytes on most) is one line, not an OSError (ENAMETOOLONG) from the first stat."""
    import errno
    import os
    name_max, path_max = _limits(path.parent)
    too_long = len(os.fsencode(path.name)) + _SIDE_SUFFIX > name_max \
        or len(os.fsencode(str(path))) + _SIDE_SUFFIX >= path_max
    if not too_long:
        try:
            os.stat(path)
        except OSError as err:  # a folder in the path with a name over the limit
            too_long = err.errno == errno.ENAMETOOLONG
    if too_long:
        raise UsageError(f"database path {str(path)[:60]}… is too long: at most "
                         f"{name_max - _SIDE_SUFFIX} bytes a file name and {path_max} a path "
                         "here; pass a shorter --db")


def _limits(folder) -> tuple[int, int]:
    import os
    while True:  # the nearest existing folder says; the limits hold for what is below it
        try:
            return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
        except (OSError, ValueError):
            if folder.parent == folder:
                return 255, 4096
            folder = folder.parent
