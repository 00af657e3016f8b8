"""Seed controls (`moelab queue/run --control`, issue 20): the same config queued again with
other seeds, so that `moelab compare` can tell a difference from seed noise.

A control keeps every field but train.seed, which moves past the original's seeds (seed + seeds,
so the two never share a seed), and is named "<name> (control of N)"; that name is its record:
`moelab compare N B` looks for it (db/reads/compare.py controls_of) and uses it only when its
stored config equals N's but for the seed (moelab/figures/noise.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moelab.engine import control as _engine
from moelab.errors import UsageError

if TYPE_CHECKING:
    from moelab.engine.config import Config

# The config transformation is the engine's, shared with the New experiment form's toggle.
SUFFIX = _engine.SUFFIX
control_name = _engine.control_name


def control_raw(raw: dict, cfg: Config) -> dict:
    """The raw (TOML-shaped) config of the control: cfg's, with train.seed past its seeds."""
    try:
        return _engine.control_raw(raw, cfg)
    except _engine.ControlError as err:
        raise UsageError(str(err)) from None


def stored(client, experiment_id: int) -> tuple[dict, Config, str]:
    """(raw config, Config, name) of a stored toy-model experiment, to queue its control."""
    from moelab.engine.config import ConfigError
    from moelab.engine.config_stored import config_from_stored, raw_from_dict
    row = client.read("experiment", experiment_id=int(experiment_id))
    if row is None:
        raise UsageError(f"no experiment with id {experiment_id}")
    import json
    try:
        stored_cfg = json.loads(row.get("config") or "{}")
        if stored_cfg.get("family", "toy") != "toy" or row.get("preset") == "import":
            raise ValueError
        cfg = config_from_stored(row["config"])
    except (ValueError, ConfigError):
        raise UsageError(f"experiment {experiment_id} is not a toy-model experiment trained "
                         "here (imported or crosscoder); a seed control needs its config") from None
    return raw_from_dict(stored_cfg), cfg, str(row.get("name") or cfg.name)


def run(args, path) -> int:
    """`moelab run PRESET --control` (train it, then its control, in the foreground) or
    `moelab run --control ID` (the control of stored experiment ID)."""
    from moelab.engine.config import from_dict
    from moelab.figures.lab import connect
    from moelab.foreground import run_foreground
    if args.control:  # --control ID
        if args.preset is not None or args.config is not None or args.sets or args.sweeps:
            raise UsageError("--control ID trains a control of a stored experiment with its "
                             "stored config; with a preset or --config, give --control alone")
        with connect(path) as client:
            raw, cfg, name = stored(client, args.control)
        ctrl, of = control_raw(raw, cfg), int(args.control)
    else:
        from moelab.configargs import check_size, raw_config_from_args
        raw, cfg = raw_config_from_args(args)
        check_size(cfg, path, args.yes)
        ctrl = control_raw(raw, cfg)  # refused before anything trains
        code = run_foreground(cfg, path, args.preset, args.quick, args.device)
        if code:
            return code
        name = cfg.name
        with connect(path) as client:
            of = max(int(e["experiment_id"]) for e in client.read("experiments")
                     if e["name"] == name)
    ctrl_cfg = from_dict({k: v for k, v in ctrl.items() if k != "name"},
                         name=control_name(name, of))
    return run_foreground(ctrl_cfg, path, args.preset, args.quick, args.device)
