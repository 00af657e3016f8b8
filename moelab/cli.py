"""The `moelab` command line. User mistakes end with one line on stderr and exit status 2.

Each command group lives in its own module with a `register(sub, groups)` function that
adds its parsers and sets `func`; this file only assembles them and handles errors.
"""

from __future__ import annotations

import importlib
import sys

from moelab.cmdline import DB_HELP, Parser, add_db, db_path  # noqa: F401 (re-exported)
from moelab.errors import UsageError

# Order is the order of `moelab --help`.
COMMAND_MODULES = (
    "moelab.cmd_train",  # run, presets, (bare moelab)
    "moelab.cmd_data",  # runs, sql, export data
    "moelab.cmd_bench",  # bench
    "moelab.cmd_figures",  # export figure, reproduce
    "moelab.cmd_crosscode",  # crosscode (crosscoders that diff a dense and an MoE run)
    "moelab.cmd_service",  # queue, status, cancel, engine start|stop|status
    "moelab.cmd_import",  # import npz, compare
    "moelab.cmd_serve",  # serve (the lab in a browser tab)
    "moelab.cmd_metric",  # metric add|list|remove|compute (your own metrics)
)


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
        from moelab.engine.service.safefiles import apply_umask
        apply_umask()  # what moelab creates is private unless MOELAB_UMASK says otherwise
        func = getattr(args, "func", None)
        if func is None:
            from moelab.cmd_train import default_command
            func = default_command
        code = func(args) or 0
        sys.stdout.flush()  # here, so a closed pipe is caught below, not at exit
        return code
    except KeyboardInterrupt:
        sys.stderr.write("moelab: interrupted\n")
        return 130
    except BrokenPipeError:  # `moelab status | head`: the reader has what it wanted
        return _pipe_closed()
    except Exception as e:  # user mistakes become one line; bugs keep their traceback
        if is_user_error(e):
            sys.stderr.write(f"moelab: {e}\n")
            return 2
        raise


def _pipe_closed() -> int:
    import os
    # Later writes (and the flush at exit) go nowhere instead of raising again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, as a command the pipe killed


# The user-mistake types of modules that may not be loaded: an error of a type whose module
# was never imported cannot have been raised, so none is imported here (device.py would pull
# in torch, 1.5 s, to say a config is wrong).
_USER_ERRORS = (("moelab.db.errors", "StoreError"), ("moelab.engine.config", "ConfigError"),
                ("moelab.engine.device", "DeviceError"))


def is_user_error(e: Exception) -> bool:
    from moelab.engine.client import ClientError  # imports neither duckdb nor torch
    if isinstance(e, (UsageError, ClientError)):
        return True
    for module, name in _USER_ERRORS:
        kind = getattr(sys.modules.get(module), name, None)
        if kind is not None and isinstance(e, kind):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
