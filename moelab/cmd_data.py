"""`moelab runs`, `moelab sql`, `moelab export data`: read-only views of the store."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from moelab.cli import Parser, add_db, db_path
from moelab.errors import UsageError
from moelab.output import FORMATS, print_rows

RUN_COLUMNS = ("run_id, experiment_id, kind, n_features, d_hidden, n_experts, k, sparsity, "
               "last_importance, seed, chosen, eval_loss, fpd, capacity")


def register(sub, groups) -> None:
    rs = sub.add_parser("runs", help="a table of runs")
    rs.add_argument("--where", help="SQL condition over the runs view, e.g. "
                    "\"n_experts = 3 and sparsity > 0.9\"")
    rs.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    rs.add_argument("--format", choices=FORMATS, default="table")
    add_db(rs)
    rs.set_defaults(func=runs)

    q = sub.add_parser("sql", help="a read-only SQL query over the views")
    q.add_argument("query", help="one SELECT (or WITH … SELECT) statement")
    q.add_argument("--format", choices=FORMATS, default="table")
    add_db(q)
    q.set_defaults(func=sql)

    ex = sub.add_parser("export", help="export data or figures")
    exsub = ex.add_subparsers(dest="what", parser_class=Parser, required=True, metavar="WHAT")
    groups["export"] = exsub
    ed = exsub.add_parser("data", help="a view or a SELECT to Parquet or CSV")
    ed.add_argument("source", help="a view name (runs, features, …) or a SELECT query")
    ed.add_argument("--out", required=True, help="FILE.parquet or FILE.csv")
    add_db(ed)
    ed.set_defaults(func=export_data)


def runs(args) -> int:
    from moelab.db import open_read_only, run_read_query
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    where = f" WHERE {args.where}" if args.where else ""
    query = f"SELECT {RUN_COLUMNS} FROM runs{where} ORDER BY run_id"
    with open_read_only(db_path(args)) as store:
        cols, rows = run_read_query(store, query, limit=args.limit)
    print_rows(cols, rows, args.format)
    return 0


def sql(args) -> int:
    from moelab.db import open_read_only, run_read_query
    with open_read_only(db_path(args)) as store:
        cols, rows = run_read_query(store, args.query)
    print_rows(cols, rows, args.format)
    return 0


def export_data(args) -> int:
    from moelab.db import export_data as export
    from moelab.db import open_read_only
    out = Path(args.out)
    with open_read_only(db_path(args)) as store:
        n = export(store, args.source, out)
    Console(stderr=True).print(f"wrote {n} rows to {out}")
    return 0
