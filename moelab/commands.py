"""One function per subcommand; each returns an exit status."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from moelab.errors import UsageError


def _db_path(args):
    from moelab.db import resolve_db_path
    return resolve_db_path(getattr(args, "db", None))


def run(args) -> int:
    from moelab.configargs import config_from_args
    from moelab.foreground import run_foreground
    cfg = config_from_args(args)
    return run_foreground(cfg, _db_path(args), args.preset, args.quick, args.device)


def demo(args) -> int:
    """`moelab` with no command, until the TUI exists: a quick preset, stored and summarised."""
    from moelab.engine.presets import build_config
    from moelab.foreground import run_foreground
    Console(stderr=True).print("[dim]moelab: running the tms-classic --quick demo "
                               "(see `moelab --help` for everything else)[/]")
    cfg = build_config("tms-classic", quick=True)
    return run_foreground(cfg, _db_path(args), "tms-classic", True, None)


def presets(args) -> int:
    from rich.table import Table

    from moelab.engine import presets as P
    table = Table(header_style="bold")
    for c in ("preset", "models", "--quick models", "what"):
        table.add_column(c)
    for name, p in P.PRESETS.items():
        full, quick = P.sizes(name)
        table.add_row(name, str(full), str(quick), p.summary)
    Console().print(table)
    return 0


RUN_COLUMNS = ("run_id, experiment_id, kind, n_features, d_hidden, n_experts, k, sparsity, "
               "last_importance, seed, chosen, eval_loss, fpd, capacity")


def runs(args) -> int:
    from moelab.db import open_read_only, run_read_query
    from moelab.output import print_rows
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    where = f" WHERE {args.where}" if args.where else ""
    query = f"SELECT {RUN_COLUMNS} FROM runs{where} ORDER BY run_id"
    with open_read_only(_db_path(args)) as store:
        cols, rows = run_read_query(store, query, limit=args.limit)
    print_rows(cols, rows, args.format)
    return 0


def sql(args) -> int:
    from moelab.db import open_read_only, run_read_query
    from moelab.output import print_rows
    with open_read_only(_db_path(args)) as store:
        cols, rows = run_read_query(store, args.query)
    print_rows(cols, rows, args.format)
    return 0


def export(args) -> int:
    from moelab.db import export_data, open_read_only
    out = Path(args.out)
    with open_read_only(_db_path(args)) as store:
        n = export_data(store, args.source, out)
    Console(stderr=True).print(f"wrote {n} rows to {out}")
    return 0
