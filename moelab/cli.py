"""The `moelab` command line. User mistakes end with one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys

from moelab.errors import UsageError

DB_HELP = "the DuckDB file (default: $MOELAB_DB, else ./moelab.duckdb)"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage dump
        sys.stderr.write(f"moelab: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> Parser:
    from moelab.configargs import add_config_args
    from moelab.output import FORMATS

    p = Parser(prog="moelab", description="A lab for superposition in dense and "
               "mixture-of-experts toy models. With no command: a quick demo run.")
    p.add_argument("--db", help=DB_HELP)
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    r = sub.add_parser("run", help="train a preset or config in the foreground and store it")
    add_config_args(r)
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train "
                   "(default: the config's train.device, auto)")

    pr = sub.add_parser("presets", help="list the presets with their full and --quick sizes")
    pr.add_argument("--db", help=argparse.SUPPRESS)

    rs = sub.add_parser("runs", help="a table of runs")
    rs.add_argument("--where", help="SQL condition over the runs view, e.g. "
                    "\"n_experts = 3 and sparsity > 0.9\"")
    rs.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    rs.add_argument("--format", choices=FORMATS, default="table")
    rs.add_argument("--db", help=DB_HELP)

    q = sub.add_parser("sql", help="a read-only SQL query over the views")
    q.add_argument("query", help="one SELECT (or WITH … SELECT) statement")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.add_argument("--db", help=DB_HELP)

    ex = sub.add_parser("export", help="export data (and, later, figures)")
    exsub = ex.add_subparsers(dest="what", parser_class=Parser, required=True)
    ed = exsub.add_parser("data", help="a view or a SELECT to Parquet or CSV")
    ed.add_argument("source", help="a view name (runs, features, …) or a SELECT query")
    ed.add_argument("--out", required=True, help="FILE.parquet or FILE.csv")
    ed.add_argument("--db", help=DB_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        sys.stderr.write("moelab: interrupted\n")
        return 130
    except Exception as e:  # user mistakes become one line; bugs keep their traceback
        if _is_user_error(e):
            sys.stderr.write(f"moelab: {e}\n")
            return 2
        raise


def _is_user_error(e: Exception) -> bool:
    from moelab.db import StoreError
    from moelab.engine.config import ConfigError
    from moelab.engine.device import DeviceError
    return isinstance(e, (UsageError, ConfigError, DeviceError, StoreError))


def _dispatch(args) -> int:
    from moelab import commands
    handler = {
        None: commands.demo,
        "run": commands.run,
        "presets": commands.presets,
        "runs": commands.runs,
        "sql": commands.sql,
        "export": commands.export,
    }[args.command]
    return handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
