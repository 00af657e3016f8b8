"""`moelab crosscode DENSE_RUN MOE_RUN`, `--experiment ID` and `--preset NAME`: BatchTopK
crosscoders that diff a dense and an MoE toy model, stored as an experiment of their own.

Everything the user can get wrong (a latent count or k out of range, runs that do not exist,
were trained on different data or on different n_features) is refused in one line with exit
status 2 before anything is written. With a lab service on the file the crosscoders queue
there and are followed here; without one they train in this process, unit by unit.
"""

from __future__ import annotations

from moelab.cmdline import add_db, db_path
from moelab.errors import UsageError

# option -> crosscoder config field
_OPTIONS = {"latents": "crosscoder.n_latents", "k": "crosscoder.k",
            "k_start": "crosscoder.k_start", "shared": "crosscoder.n_shared",
            "steps": "train.steps", "batch_size": "train.batch_size", "lr": "train.lr",
            "seeds": "train.seeds", "seed": "train.seed", "layer": "source.layer"}


def register(sub, groups) -> None:
    p = sub.add_parser(
        "crosscode", help="train crosscoders that diff a dense and an MoE run",
        description="BatchTopK sparse crosscoders over a dense model's hidden and an MoE's "
        "gated expert hiddens, checked against the input features (docs/crosscoders.md), or "
        "over two language models' residual streams (an lm experiment, docs/lm.md). "
        "Give DENSE_RUN MOE_RUN, or --experiment ID (every MoE run against the dense run of "
        "its seed and data), or --preset fig1-2 | fig3 (trains the models first).")
    p.add_argument("dense_run", nargs="?", type=int, metavar="DENSE_RUN")
    p.add_argument("moe_run", nargs="?", type=int, metavar="MOE_RUN")
    p.add_argument("--experiment", type=int, metavar="ID", help="diff the runs of this "
                   "finished experiment, paired by seed and data")
    p.add_argument("--preset", metavar="NAME", help="fig1-2 or fig3: train its dense and MoE "
                   "models on the same data, then their crosscoders")
    p.add_argument("--quick", action="store_true", help="the preset's small, fast form")
    for opt, field, kind, text in (
            ("latents", "n_latents", int, "latents in the dictionary"),
            ("k", "k", int, "active latents per sample, on average (BatchTopK)"),
            ("k-start", "k_start", int, "k anneals down from this (default min(4k, latents))"),
            ("shared", "n_shared", int, "designated shared latents (decoders tied)"),
            ("steps", "steps", int, "training steps"),
            ("batch-size", "batch_size", int, "samples per step"),
            ("lr", "lr", float, "Adam learning rate"),
            ("seeds", "seeds", int, "crosscoders per pair, seeds seed, seed+1, ..."),
            ("seed", "seed", int, "the first crosscoder seed"),
            ("layer", "layer", int, "language models (an lm experiment): the residual stream "
             "after this block, 0-based (default the middle one)")):
        p.add_argument(f"--{opt}", type=kind, metavar="N", help=f"{text} ({field})")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="S.F=VALUE",
                   help="any crosscoder config field, e.g. crosscoder.sparsity_coef=0.02")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train")
    add_db(p)
    p.set_defaults(func=crosscode)


RUN_PREFIX = "crosscoder-"  # `moelab run crosscoder-fig1-2`: the crosscoder preset fig1-2


def run_preset(args) -> int:
    """`moelab run crosscoder-NAME [--quick] [--set S.F=V] [--device D]`: the crosscoder
    preset NAME, as `moelab crosscode --preset NAME` (--set applies to the crosscoders)."""
    import argparse

    from moelab.engine.presets import CROSSCODER_PRESETS
    name = args.preset[len(RUN_PREFIX):]
    if name not in CROSSCODER_PRESETS:
        raise UsageError(f"unknown crosscoder preset {args.preset!r}; crosscoder presets: "
                         f"{', '.join(RUN_PREFIX + n for n in CROSSCODER_PRESETS)}")
    if args.config is not None or args.sweeps:
        raise UsageError(f"{args.preset} takes --quick, --set and --device; --config and "
                         "--sweep apply to toy-model experiments")
    given = {"dense_run": None, "moe_run": None, "experiment": None, "preset": name,
             "quick": args.quick, "sets": args.sets, "device": args.device,
             **{opt: None for opt in _OPTIONS}}
    if hasattr(args, "db"):
        given["db"] = args.db
    return crosscode(argparse.Namespace(**given))


def crosscode(args) -> int:
    from moelab.engine.crosscoder_config import from_dict
    raw, preset = _raw(args)
    probe = dict(raw, source={"experiment": 1}) if preset else raw  # source comes later
    cfg = from_dict(probe)  # a latent count or k out of range: exit 2, nothing written
    path = db_path(args)
    from moelab.engine.service.client import service_running
    if service_running(path):
        from moelab.crosscode_run import on_service
        eid = on_service(raw, cfg.name, preset, args.quick, path, args.device)
    else:
        from moelab.crosscode_run import here
        eid = here(raw, cfg.name, preset, args.quick, path, args.device)
    if eid is None:
        return 1
    from moelab.crosscode_run import print_summary
    print_summary(path, eid)
    return 0


def _raw(args) -> tuple[dict, object]:
    """The raw crosscoder config the options describe, and the preset (or None)."""
    from moelab.engine.config import parse_assignment, parse_value
    pair = (args.dense_run, args.moe_run)
    given = [pair != (None, None), args.experiment is not None, args.preset is not None]
    if sum(given) != 1:
        raise UsageError("give DENSE_RUN MOE_RUN, or --experiment ID, or --preset NAME "
                         "(one of them)")
    if given[0] and None in pair:
        raise UsageError("give both runs: DENSE_RUN MOE_RUN")
    if args.quick and not args.preset:
        raise UsageError("--quick applies to --preset")
    preset = None
    raw: dict = {"family": "crosscoder"}
    if args.preset:
        from moelab.engine.presets import CROSSCODER_PRESETS
        if args.preset not in CROSSCODER_PRESETS:
            raise UsageError(f"unknown crosscoder preset {args.preset!r}; presets: "
                             f"{', '.join(CROSSCODER_PRESETS)}")
        preset = CROSSCODER_PRESETS[args.preset]
        raw = preset.crosscoder(args.quick)
        name = f"crosscode --preset {args.preset}" + (" --quick" if args.quick else "")
    elif args.experiment is not None:
        raw["source"] = {"experiment": args.experiment}
        name = f"crosscode --experiment {args.experiment}"
    else:
        raw["source"] = {"dense_run": args.dense_run, "moe_run": args.moe_run}
        name = f"crosscode {args.dense_run} {args.moe_run}"
    sets = [(f, getattr(args, opt)) for opt, f in _OPTIONS.items()
            if getattr(args, opt) is not None]
    for text in args.sets:
        key, value = parse_assignment(text, "--set")
        if key.count(".") != 1:
            raise UsageError(f"--set {key}: name a field as section.field, e.g. crosscoder.k")
        sets.append((key, parse_value(value)))
    if args.device:
        sets.append(("train.device", args.device))
    for key, value in sets:
        section, field = key.split(".")
        raw.setdefault(section, {})[field] = value
    raw["name"] = name
    return raw, preset
