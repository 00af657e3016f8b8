"""`moelab export figure` and `moelab reproduce`: the paper's figures as files."""

from __future__ import annotations

from pathlib import Path

from moelab.cmdline import add_db, db_path


def register(sub, groups) -> None:
    from moelab.figures import KINDS
    from moelab.figures.kinds import REPRODUCE as FIGURES
    kinds = "; ".join(f"{k.name}: {k.summary}" for k in KINDS.values())
    f = groups["export"].add_parser("figure", help="a paper figure (PNG/SVG/PDF) or table "
                                    "(CSV/LaTeX) from a stored experiment",
                                    description=f"Kinds — {kinds}")
    f.add_argument("kind", metavar="KIND", choices=list(KINDS),
                   help=f"one of {', '.join(KINDS)}")
    f.add_argument("--experiment", type=int, required=True, metavar="ID",
                   help="experiment id (see `moelab sql \"SELECT * FROM experiments\"`)")
    f.add_argument("--out", required=True, metavar="FILE",
                   help="FILE.png, .svg or .pdf (usage-table: .csv or .tex)")
    f.add_argument("--expert", type=int, metavar="E", help="only expert E (counted from 0)")
    f.add_argument("--metric", metavar="M", help="phase-diagram: superposition_all (default) "
                   "| superposition; fpd-vs-sparsity: fpd | capacity; loss-vs-sparsity: "
                   "eval_loss | final_loss; training-curves: loss | rec_loss | lb_loss | "
                   "router_grad_norm")
    f.add_argument("--run", type=int, metavar="ID", help="gram, feature-norms, "
                   "routing-regions: this run instead of the best chosen run per setup")
    f.add_argument("--against", type=int, metavar="ID", help="phase-diff: the experiment to "
                   "compare with")
    f.add_argument("--step", type=int, metavar="N", help="phase-diagram: at the stored "
                   "snapshot nearest to training step N (runs trained with train.snapshots)")
    f.add_argument("--color", "--colour", dest="color", metavar="C",
                   help="phase-diagram: paper (default) | norm | "
                   "superposition | superposition_all | dimensionality | loss | metric:NAME "
                   "(a custom metric, see `moelab metric list`): one value on one scale")
    f.add_argument("--stability", action="store_true", help="phase-diagram: mark unstable "
                   "points (at most half their seeds end in the chosen seed's classes)")
    f.add_argument("--dpi", type=int, default=200, help="PNG resolution (200)")
    add_db(f)
    f.set_defaults(func=export_figure)

    r = sub.add_parser("reproduce", help="train the paper's presets and write every figure "
                       "and REPORT.md into one folder")
    r.add_argument("figures", nargs="*", metavar="FIGURE",
                   help=f"any of {', '.join(FIGURES)} (default: all)")
    r.add_argument("--quick", action="store_true", help="the presets' small --quick sizes")
    r.add_argument("--seeds", type=int, metavar="N", help="seeds per sweep point "
                   "(default: each preset's own)")
    r.add_argument("--out", default="reproduction", metavar="DIR",
                   help="folder for the figures and REPORT.md (./reproduction)")
    r.add_argument("--format", choices=("png", "svg", "pdf"), default="png")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train")
    r.add_argument("--fresh", action="store_true", help="retrain even when a finished "
                   "experiment with the same config is stored")
    add_db(r)
    r.set_defaults(func=reproduce)


def export_figure(args) -> int:
    from moelab.figures import export
    from moelab.figures.lab import connect
    client = connect(db_path(args))
    try:
        out = export(client, args.kind, args.experiment, Path(args.out), expert=args.expert,
                     metric=args.metric, run_id=args.run, dpi=args.dpi,
                     against=args.against, step=args.step, color=args.color,
                     stability=args.stability)
    finally:
        client.close()
    from rich.console import Console
    Console(stderr=True).print(f"wrote {out}")
    return 0


def reproduce(args) -> int:
    from moelab.figures.reproduce import reproduce as run
    outcomes = run(db_path(args), args.figures, args.quick, args.seeds, Path(args.out),
                   fmt=args.format, device=args.device, fresh=args.fresh)
    return 0 if all(o.status == "done" and not o.message for o in outcomes) else 1
