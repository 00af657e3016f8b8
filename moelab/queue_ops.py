"""What `moelab queue` does beyond one toy-model config: a crosscoder preset (its models,
then its crosscoders, as `moelab run crosscoder-NAME` trains them) and seed controls
(`--control`, moelab/control.py)."""

from __future__ import annotations

import sys

from moelab.errors import UsageError


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")


def queue_special(args, path, service) -> int | None:
    """Queue a crosscoder preset, or a control of a stored experiment (`--control ID` without
    a preset or config); None when the command is an ordinary queue."""
    from moelab.cmd_crosscode import RUN_PREFIX
    control = getattr(args, "control", None)
    if (args.preset or "").startswith(RUN_PREFIX):
        if control is not None:
            raise UsageError("--control applies to toy-model experiments, not crosscoders")
        return queue_crosscoder(args, path, service)
    if control:  # --control ID
        if args.preset is not None or args.config is not None:
            raise UsageError("--control ID queues a control of a stored experiment; with a "
                             "preset or --config, give --control without an ID")
        if args.sets or args.sweeps or args.quick:
            raise UsageError("--control ID reuses the stored config as it is; --set, "
                             "--sweep and --quick do not apply")
        return queue_control_of(args, path, service, control)
    return None


def queue_crosscoder(args, path, service) -> int:
    """`moelab queue crosscoder-NAME [--quick] [--set S.F=V]`: the preset's models, then its
    crosscoders reading them (the service waits for the models), ids printed at once."""
    import argparse

    from moelab.cmd_crosscode import _OPTIONS, RUN_PREFIX, _raw
    from moelab.engine.crosscoder_config import from_dict
    from moelab.engine.presets import CROSSCODER_PRESETS
    name = args.preset[len(RUN_PREFIX):]
    if name not in CROSSCODER_PRESETS:
        raise UsageError(f"unknown crosscoder preset {args.preset!r}; crosscoder presets: "
                         f"{', '.join(RUN_PREFIX + n for n in CROSSCODER_PRESETS)}")
    if args.config is not None or args.sweeps:
        raise UsageError(f"{args.preset} takes --quick, --set and --name; --config and "
                         "--sweep apply to toy-model experiments")
    given = argparse.Namespace(dense_run=None, moe_run=None, experiment=None, preset=name,
                               quick=args.quick, sets=args.sets, device=None,
                               **{o: None for o in _OPTIONS})  # every crosscode option unset
    raw, preset = _raw(given)
    from_dict(dict(raw, source={"experiment": 1}))  # out-of-range fields: exit 2, nothing queued
    title = args.name or (f"crosscode --preset {name}" + (" --quick" if args.quick else ""))
    with service(path) as client:
        mid = client.submit(preset.models(args.quick), name=f"{title} (models)")
        eid = client.submit(dict(raw, source={"experiment": mid}), name=title)
    print(eid)
    _note(f"queued experiment {mid} (the models) and {eid} ({title}, the crosscoders that "
          "read them); follow them with `moelab status`")
    return 0


def queue_control_of(args, path, service, experiment_id: int) -> int:
    """`moelab queue --control ID`: ID's stored config again with other seeds."""
    from moelab.control import control_name, control_raw, stored
    from moelab.figures.lab import connect
    if not path.exists():
        raise UsageError(f"no database at {path}; no experiment {experiment_id} to control")
    with connect(path) as client:  # read first: a wrong id starts no service
        raw, cfg, name = stored(client, experiment_id)
    ctrl_raw = control_raw(raw, cfg)
    with service(path) as client:
        ctrl = client.submit(ctrl_raw, name=control_name(name, experiment_id))
    print(ctrl)
    _note(f"queued experiment {ctrl}, the seed control of {experiment_id} (seeds from "
          f"{cfg.train.seed + cfg.train.seeds}); `moelab compare {experiment_id} B` uses it")
    return 0


def submit_control(client, ctrl_raw: dict, cfg, name: str, experiment_id: int) -> int:
    """After `moelab queue PRESET --control`: the control of the experiment just queued
    (its config from moelab.control.control_raw, made before the original was queued)."""
    from moelab.control import control_name
    ctrl = client.submit(ctrl_raw, name=control_name(name, experiment_id))
    _note(f"queued experiment {ctrl}, its seed control (seeds from "
          f"{cfg.train.seed + cfg.train.seeds})")
    return ctrl
