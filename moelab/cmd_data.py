"""`moelab runs`, `moelab sql`, `moelab export data`: read-only views of the store.

They ask the lab service when one holds the file (so they work while a sweep trains), and
read the file directly otherwise; neither starts a service.
"""

from __future__ import annotations

from pathlib import Path

from moelab.cmdline import Parser, add_db, db_path
from moelab.errors import UsageError

FORMATS = ("table", "csv", "json")  # moelab.output's; imported lazily (rich is slow to load)

RUN_COLUMNS = ("run_id", "experiment_id", "kind", "n_features", "d_hidden", "n_experts", "k",
               "router_init", "sparsity", "last_importance", "seed", "chosen", "eval_loss",
               "fpd", "capacity")
COLUMNS_HELP = ("comma-separated columns: any column of the runs view, a config field as "
                "section.field (train.lr), or min(METRIC) / max(METRIC) / last(METRIC) of a "
                "logged metric (loss, rec_loss, lb_loss, router_grad_norm); default: "
                + ",".join(RUN_COLUMNS))


def register(sub, groups) -> None:
    rs = sub.add_parser("runs", help="a table of runs")
    rs.add_argument("--where", help="SQL condition over the runs view, e.g. "
                    "\"n_experts = 3 and sparsity > 0.9\"")
    rs.add_argument("--columns", help=COLUMNS_HELP)
    rs.add_argument("--sort", metavar="COLUMN", help="sort by this column (any --columns "
                    "kind, shown or not); \"COLUMN desc\" or --sort=-COLUMN sorts descending "
                    "(default: run_id)")
    rs.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    rs.add_argument("--format", choices=FORMATS, default="table")
    add_db(rs)
    rs.set_defaults(func=runs)

    q = sub.add_parser("sql", help="a read-only SQL query over the views")
    q.add_argument("query", help="one SELECT (or WITH … SELECT) statement")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.add_argument("--timeout", type=float, metavar="SECONDS", help="stop the query after "
                   "this long (default: $MOELAB_SQL_TIMEOUT, else 60)")
    q.add_argument("--max-rows", type=int, metavar="N", help="refuse a result of more rows "
                   "(default: $MOELAB_SQL_MAX_ROWS, else 100000)")
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


def _client(args):
    from moelab.engine.service.client import connect
    return connect(db_path(args), autostart=False)


def print_rows(cols, rows, fmt) -> None:
    from moelab.output import print_rows as show
    show(cols, rows, fmt)


def split_columns(text: str | None) -> list[str]:
    """`run_id, min(loss),train.lr` -> ["run_id", "min(loss)", "train.lr"]."""
    if text is None:
        return list(RUN_COLUMNS)
    columns = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise UsageError("--columns needs at least one column")
    return columns


def runs(args) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    sort, descending = (args.sort or "").strip(), False
    if sort.startswith("-"):
        sort, descending = sort[1:], True
    elif sort.lower().endswith((" desc", " asc")):
        sort, direction = sort.rsplit(None, 1)
        descending = direction.lower() == "desc"
    with _client(args) as client:
        page = client.read("runs_columns_page", columns=split_columns(args.columns),
                           where=args.where, order_by=sort or None, descending=descending,
                           offset=0, limit=args.limit)
    print_rows(page["columns"], page["rows"], args.format)
    return 0


def sql(args) -> int:
    with _client(args) as client:
        cols, rows = client.sql(args.query, timeout=args.timeout, max_rows=args.max_rows)
    print_rows(cols, rows, args.format)
    return 0


def export_data(args) -> int:
    out = Path(args.out).expanduser().absolute()  # the service may run in another directory
    with _client(args) as client:
        n = client.read("export_query", query=args.source, out=str(out))
    from rich.console import Console
    Console(stderr=True).print(f"wrote {n} rows to {out}")
    return 0
