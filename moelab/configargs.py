"""Turning `PRESET | --config FILE [--set ...] [--sweep ...] [--quick]` into a Config."""

from __future__ import annotations

import argparse
import os
import sys
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
    p.add_argument("--yes", action="store_true", help="start it even if it would train "
                   "for more than a day (the estimate is printed either way)")


def check_size(cfg: Config, db_path, yes: bool):
    """The experiment's estimate, or a refusal (exit 2) of what cannot fit this machine; over
    a day of training, asks on a terminal unless --yes (engine/estimate.py)."""
    from moelab.engine.estimate import check_fits
    return check_fits(cfg, db_dir=db_path.parent, yes=yes, confirm=_ask)


def _ask(est) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    from moelab.engine.estimate import human_time
    sys.stderr.write(f"this experiment would train for about {human_time(est.seconds)} "
                     f"({est.line()}). Start it? [y/N] ")
    sys.stderr.flush()
    try:
        return sys.stdin.readline().strip().lower() in ("y", "yes")
    except (OSError, KeyboardInterrupt):
        return False


def config_from_args(args) -> Config:
    return raw_config_from_args(args)[1]


def raw_config_from_args(args) -> tuple[dict, Config]:
    """The TOML-shaped dict with --set/--sweep applied (what the lab service takes), and
    its validated Config."""
    # imported only when a command builds a config, so `--help`, `status` and `sql` start
    # fast; presets (numpy, 0.2 s) only for a preset, so a bad --config is refused at once
    from moelab.engine.config import from_dict, load_toml, with_overrides
    if (args.preset is None) == (args.config is None):
        raise UsageError("give a preset name or --config FILE (one of them); "
                         "`moelab presets` lists the presets")
    if args.config is not None:
        if args.quick:
            raise UsageError("--quick applies to presets; shrink a config with --set instead")
        base = load_toml(args.config)
        raw = with_overrides(base, args.sets, args.sweeps)
        cfg = from_dict({k: v for k, v in raw.items() if k != "name"},
                        name=str(raw.get("name", "experiment")))  # as presets.build_config
    else:
        from moelab.engine.presets import build_config, get
        base = get(args.preset).raw(args.quick)
        cfg = build_config(args.preset, quick=args.quick, sets=args.sets, sweeps=args.sweeps)
    _check_metric_paths(cfg)
    return with_overrides(base, args.sets, args.sweeps), cfg


def _check_metric_paths(cfg: Config) -> None:
    """A train.metrics path is where code that runs as you is loaded from: refuse one that
    another user owns or can write (the worker checks it again before loading)."""
    from moelab.engine.usercode import UntrustedCode, check_folder
    for m in cfg.train.metrics:
        path = m.get("path") or ""
        try:
            if path and not os.path.isabs(path):
                raise UntrustedCode(f"a metric's path must be an absolute folder, not {path!r}")
            if os.path.exists(path):
                check_folder(path)
        except UntrustedCode as err:
            raise UsageError(f"train.metrics {m['name']}: {err}") from None
