"""Turning `PRESET | --config FILE [--set ...] [--sweep ...] [--quick]` into a Config."""

from __future__ import annotations

import argparse

from moelab.engine.config import Config, load_toml
from moelab.engine.presets import build_config
from moelab.errors import UsageError


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
    if (args.preset is None) == (args.config is None):
        raise UsageError("give a preset name or --config FILE (one of them); "
                         "`moelab presets` lists the presets")
    if args.config is not None:
        if args.quick:
            raise UsageError("--quick applies to presets; shrink a config with --set instead")
        return build_config(raw=load_toml(args.config), sets=args.sets, sweeps=args.sweeps)
    return build_config(args.preset, quick=args.quick, sets=args.sets, sweeps=args.sweeps)
