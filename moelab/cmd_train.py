"""`moelab run`, `moelab presets`, and bare `moelab`."""

from __future__ import annotations

from moelab.cmdline import add_db, db_path


def register(sub, groups) -> None:
    from moelab.configargs import add_config_args
    r = sub.add_parser("run", help="train a preset or config in the foreground and store it")
    add_config_args(r)
    add_db(r)
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train "
                   "(default: the config's train.device, auto)")
    r.add_argument("--control", nargs="?", const=0, type=int, metavar="ID",
                   help="then train a seed control: the same config with other seeds, named "
                   "'NAME (control of N)', which `moelab compare` uses as the noise floor; "
                   "--control ID alone trains one for stored experiment ID")
    r.set_defaults(func=run)
    pr = sub.add_parser("presets", help="list the presets (toy models, crosscoders, language "
                        "models) with "
                        "their full and --quick sizes")
    pr.set_defaults(func=presets)


def run(args) -> int:
    from moelab.cmd_crosscode import RUN_PREFIX, run_preset
    from moelab.lm_run import is_lm_preset
    if is_lm_preset(args.preset):  # lm-pair: small language models (engine/families/lm/)
        from moelab.lm_run import run_preset as run_lm
        return run_lm(args)
    if (args.preset or "").startswith(RUN_PREFIX):  # crosscoder-fig1-2: models, then crosscoders
        if args.control is not None:
            from moelab.errors import UsageError
            raise UsageError("--control applies to toy-model experiments, not crosscoders")
        return run_preset(args)
    if args.control is not None:
        from moelab import control
        return control.run(args, db_path(args))
    from moelab.configargs import check_size, config_from_args
    cfg = config_from_args(args)
    path = db_path(args)
    check_size(cfg, path, args.yes)  # before anything is allocated, or torch imported
    from moelab.foreground import run_foreground
    return run_foreground(cfg, path, args.preset, args.quick, args.device)


def default_command(args) -> int:
    """`moelab` with no command: the lab's TUI on the database, starting its service."""
    from moelab.engine.service.client import connect  # lazily: the service is heavy
    from moelab.tui.app import run_app
    path = db_path(args)
    client = connect(path, autostart=True)
    try:
        run_app(client, str(path))
    finally:
        client.close()
    return 0


def presets(args) -> int:
    from rich.table import Table

    from moelab.engine import presets as P
    table = Table(header_style="bold")
    for c in ("preset", "models", "--quick models", "what"):
        table.add_column(c)
    for name, p in P.PRESETS.items():
        full, quick = P.sizes(name)
        table.add_row(name, str(full), str(quick), p.summary)
    from rich.console import Console

    from moelab.cmd_crosscode import RUN_PREFIX
    out = Console()
    out.print(table)
    cc = Table(header_style="bold", title="crosscoder presets: `moelab run NAME [--quick]`, "
               "or `moelab crosscode --preset NAME` without the crosscoder- prefix",
               title_justify="left")
    for c in ("preset", "models + crosscoders", "--quick", "what"):
        cc.add_column(c)
    for name, p in P.CROSSCODER_PRESETS.items():
        full, quick = P.crosscoder_sizes(name)
        cc.add_row(RUN_PREFIX + name, f"{full[0]} + {full[1]}", f"{quick[0]} + {quick[1]}",
                   p.summary)
    out.print(cc)
    from moelab.engine.families.lm.presets import LM_PRESETS
    lm = Table(header_style="bold", title="small language models: `moelab run NAME [--quick]` "
               "(time measured on a 2-core CPU machine)", title_justify="left")
    for c in ("preset", "models", "time", "--quick time", "what"):
        lm.add_column(c)
    for name, p in LM_PRESETS.items():
        n = len(p.build(False)["sweep"]["variants"])
        lm.add_row(name, str(n), f"~{p.minutes[0]:g} min", f"~{p.minutes[1]:g} min", p.summary)
    out.print(lm)
    return 0
