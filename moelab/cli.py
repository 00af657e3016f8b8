"""The `moelab` command line. User mistakes end with one line on stderr and exit status 2.

Each command group lives in its own module with a `register(sub, groups)` function that
adds its parsers and sets `func`; this file only assembles them and handles errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from moelab.errors import UsageError

DB_HELP = "the DuckDB file (default: $MOELAB_DB, else ./moelab.duckdb)"

# Order is the order of `moelab --help`.
COMMAND_MODULES = (
    "moelab.cmd_train",  # run, presets, (bare moelab)
    "moelab.cmd_data",  # runs, sql, export data
    "moelab.cmd_bench",  # bench
    "moelab.cmd_figures",  # export figure, reproduce
    "moelab.cmd_service",  # queue, status, cancel, engine start|stop|status
)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        sys.stderr.write(f"moelab: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)


def build_parser() -> Parser:
    p = Parser(prog="moelab", description="A lab for superposition in dense and "
               "mixture-of-experts toy models. With no command: the lab.")
    p.add_argument("--db", help=DB_HELP)
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    groups: dict[str, object] = {}
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, groups)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        func = getattr(args, "func", None)
        if func is None:
            from moelab.cmd_train import default_command
            func = default_command
        return func(args) or 0
    except KeyboardInterrupt:
        sys.stderr.write("moelab: interrupted\n")
        return 130
    except Exception as e:  # user mistakes become one line; bugs keep their traceback
        if is_user_error(e):
            sys.stderr.write(f"moelab: {e}\n")
            return 2
        raise


def is_user_error(e: Exception) -> bool:
    from moelab.engine.client import ClientError  # first: it imports neither duckdb nor torch
    if isinstance(e, (UsageError, ClientError)):
        return True
    from moelab.db import StoreError
    from moelab.engine.config import ConfigError
    from moelab.engine.device import DeviceError
    return isinstance(e, (UsageError, ConfigError, DeviceError, StoreError))


def db_path(args):
    from moelab.db import resolve_db_path
    return resolve_db_path(getattr(args, "db", None))


if __name__ == "__main__":
    sys.exit(main())
