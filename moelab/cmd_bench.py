"""`moelab bench`: training throughput against the research-code baseline."""

from __future__ import annotations


def register(sub, groups) -> None:
    b = sub.add_parser("bench", help="measure training speed against the baseline "
                       "(W1, W2, W3)")
    b.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    b.set_defaults(func=bench)


def bench(args) -> int:
    from moelab.benchmarks.run import run_bench
    return run_bench(quick=args.quick)
