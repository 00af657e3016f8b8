"""`moelab import npz` (the authors' published phase diagrams) and `moelab compare`."""

from __future__ import annotations

from moelab.cmdline import Parser, add_db, db_path


def register(sub, groups) -> None:
    imp = sub.add_parser("import", help="bring outside data into the lab")
    isub = imp.add_subparsers(dest="what", parser_class=Parser, required=True, metavar="WHAT")
    n = isub.add_parser("npz", help="the authors' phase-diagram files (their repository's "
                        "phase_change_data/*.npz) as one experiment, marked imported")
    n.add_argument("files", nargs="+", metavar="FILE", help="e.g. 211.npz 212.npz (one per "
                   "setup nmE; you supply them, moelab ships none)")
    n.add_argument("--name", help="the experiment's name (default: from the files)")
    add_db(n)
    n.set_defaults(func=import_npz)

    c = sub.add_parser("compare", help="two phase-diagram experiments cell by cell: per "
                       "setup the share of matching cells (experts matched) and the mean "
                       "|Δ norm| of the last feature")
    c.add_argument("a", type=int, metavar="EXPERIMENT_A")
    c.add_argument("b", type=int, metavar="EXPERIMENT_B")
    add_db(c)
    c.set_defaults(func=compare)


def import_npz(args) -> int:
    from moelab.importer import import_files
    eid, n_runs = import_files(db_path(args), args.files, args.name)
    from rich.console import Console
    Console().print(f"[bold green]experiment {eid}[/]: {n_runs} cells imported from "
                    f"{len(args.files)} file(s); compare it with `moelab compare {eid} ID`")
    return 0


def compare(args) -> int:
    from moelab.figures.lab import connect
    from moelab.figures.noise import floors
    from moelab.figures.phase_diff import comparison, report_lines
    client = connect(db_path(args))
    try:
        result, ca, _ = comparison(client, args.a, args.b)
        noise = floors(client, args.a, args.b, ca)
        left_out = sum(c.left_out for c in result)
        diverged = {e: _non_finite_runs(client, e) for e in (args.a, args.b)} if left_out \
            else {}
    finally:
        client.close()
    print(f"experiment {args.a} against {args.b}: last-feature classes per cell "
          "(ignored / monosemantic / superposition), experts matched")
    print("\n".join(report_lines(result, noise)))
    if left_out:
        runs = "; ".join(f"experiment {e} run{'s' if len(r) > 1 else ''} "
                         f"{', '.join(map(str, r[:20]))}{' …' if len(r) > 20 else ''}"
                         for e, r in diverged.items() if r)
        print(f"left out {left_out} common cell{'s' if left_out > 1 else ''} whose weights "
              f"are not finite (NaN or inf, a diverged run): {runs}")
    return 0


def _non_finite_runs(client, experiment_id: int) -> list[int]:
    """Runs whose last feature has no finite norm: their weights hold NaN or inf."""
    import math

    from moelab.figures.data import as_rows
    rows = as_rows(client.read("last_feature_cells", experiment_id=int(experiment_id)))
    return sorted({r["run_id"] for r in rows
                   if r["norm"] is None or not math.isfinite(r["norm"])})
