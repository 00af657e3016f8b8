"""Turning `PRESET | --config FILE [--set ...] [--sweep ...] [--quick]` into a Config."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from moelab.errors import UsageError

if TYPE_CHECKING:
    from moelab.engine.config import Config


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", nargs="?", help="a preset name (see `moelab presets`)")
    p.add_argument("--config", metavar="FILE", help="a TOML config with [model] [data] "
                   "[train] [sweep]")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="S.F=VALUE",
                   help="override a field, VALUE as TOML (repeatable)")
    p.add_argument("--sweep", dest="sweeps", action="append", default=[],
                   metavar="S.F=V1,V2,…", help="sweep a field over values (repeatable; grid)")
    p.add_argument("--quick", action="store_true", help="the preset's small, fast form")


def config_from_args(args) -> Config:
    return raw_config_from_args(args)[1]


def raw_config_from_args(args) -> tuple[dict, Config]:
    """The TOML-shaped dict with --set/--sweep applied (what the lab service takes), and
    its validated Config."""
    # imported only when a command builds a config (presets pulls in numpy), so `--help`,
    # `status` and `sql` start fast
    from moelab.engine.config import load_toml, with_overrides
    from moelab.engine.presets import build_config, get
    if (args.preset is None) == (args.config is None):
        raise UsageError("give a preset name or --config FILE (one of them); "
                         "`moelab presets` lists the presets")
    if args.config is not None:
        if args.quick:
            raise UsageError("--quick applies to presets; shrink a config with --set instead")
        base = load_toml(args.config)
        cfg = build_config(raw=base, sets=args.sets, sweeps=args.sweeps)
    else:
        base = get(args.preset).raw(args.quick)
        cfg = build_config(args.preset, quick=args.quick, sets=args.sets, sweeps=args.sweeps)
    return with_overrides(base, args.sets, args.sweeps), cfg
