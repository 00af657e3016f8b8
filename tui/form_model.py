"""The New experiment form as data: a preset's fields as TOML text, its sweep variants as
editable lines, which fields the variants override, and the raw config the form stands for.

A variant is one line of dotted assignments, `model.n_features = 2, model.kind = "dense"`
(a TOML inline table without its braces); an empty line removes the variant. Pure Python:
nothing here imports textual, and validation itself is the engine's (tui/validate.py).
"""

from __future__ import annotations

import json
import math
import tomllib

SECTIONS = ("model", "data", "train")


def toml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + " }"
    return str(value)


def field_values(raw: dict) -> dict[str, str]:
    """Every config field as section.field -> TOML text, the preset's values over defaults,
    then the sweep's axes (sweep.section.field -> list)."""
    import dataclasses

    from moelab.engine.config import Config
    cfg = Config()
    out = {}
    for section in SECTIONS:
        given = raw.get(section, {})
        for f in dataclasses.fields(getattr(cfg, section)):
            value = given.get(f.name, getattr(getattr(cfg, section), f.name))
            out[f"{section}.{f.name}"] = toml_text(value)
    for key, values in raw.get("sweep", {}).items():
        if key != "variants":
            out[f"sweep.{key}"] = toml_text(values)
    return out


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and prefix == "":  # a section: its fields are the keys
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def variant_text(variant: dict) -> str:
    return ", ".join(f"{k} = {toml_text(v)}" for k, v in _flat(variant).items())


def variant_texts(raw: dict) -> list[str]:
    return [variant_text(v) for v in raw.get("sweep", {}).get("variants", [])]


class VariantError(ValueError):
    pass


def parse_variant(text: str) -> dict:
    """`model.k = 2, data.sparsity = 0.5` -> {"model": {"k": 2}, "data": {"sparsity": 0.5}}."""
    try:
        table = tomllib.loads(f"v = {{ {text} }}")["v"]
    except tomllib.TOMLDecodeError as err:
        raise VariantError(f"not `section.field = value, …` ({err})") from None
    bad = [k for k in table if k not in SECTIONS or not isinstance(table[k], dict)]
    if bad:
        raise VariantError(f"{bad[0]!r} is not model.…, data.… or train.…")
    return table


def overridden(variants: list[str]) -> dict[str, list[int]]:
    """section.field -> the variants (numbered from 0) that set it; unreadable lines skip."""
    out: dict[str, list[int]] = {}
    for i, text in enumerate(variants):
        try:
            keys = _flat(parse_variant(text)) if text.strip() else {}
        except VariantError:
            continue
        for key in keys:
            out.setdefault(key, []).append(i)
    return out


def raw_from_form(base: dict, edits: dict[str, str], variants: list[str]) -> dict:
    """The preset's raw dict with the edited fields parsed as TOML (as --set does) and the
    variants as edited (empty lines dropped). Raises ConfigError listing every problem."""
    from moelab.engine.config import ConfigError, parse_value
    raw = json.loads(json.dumps(base))
    problems = []
    for key, text in edits.items():
        section, field = key.split(".", 1)
        try:
            value = parse_value(text)
        except ConfigError as err:
            problems.append(f"{key}: {err}")
            continue
        if section == "sweep":
            raw.setdefault("sweep", {})[field] = value
        else:
            raw.setdefault(section, {})[field] = value
    parsed = []
    for i, text in enumerate(variants):
        if not text.strip():
            continue
        try:
            parsed.append(parse_variant(text))
        except VariantError as err:
            problems.append(f"variant {i}: {err}")
    sweep = raw.setdefault("sweep", {})
    if parsed:
        sweep["variants"] = parsed
    else:
        sweep.pop("variants", None)
    if not sweep:
        raw.pop("sweep")
    if problems:
        raise ConfigError(problems)
    return raw


def estimate(raw: dict) -> int:
    """Models the raw config makes, from the sizes of its sweep alone (no validation): how
    heavy checking it will be."""
    sweep = raw.get("sweep", {})
    points = math.prod(len(v) if isinstance(v, list) else 1
                       for k, v in sweep.items() if k != "variants")
    seeds = raw.get("train", {}).get("seeds", 1)
    seeds = seeds if isinstance(seeds, int) and seeds > 0 else 1
    return points * max(len(sweep.get("variants", [])), 1) * seeds


def ignored_edits(edits: dict[str, str], variants: list[str]) -> list[str]:
    """Edited fields that every variant sets again: the edit changes nothing."""
    over = overridden(variants)
    n = sum(1 for v in variants if v.strip())
    return [k for k in edits if n and len(over.get(k, [])) == n]


def breakdown(raw: dict) -> str:
    """`8 variants × 25 points × 2 seeds`: where the number of models comes from."""
    sweep = raw.get("sweep", {})
    parts = []
    n_var = len(sweep.get("variants", []))
    if n_var:
        parts.append(f"{n_var} variant{'s' if n_var != 1 else ''}")
    points = math.prod(len(v) for k, v in sweep.items() if k != "variants" and
                       isinstance(v, list))
    if points > 1:
        parts.append(f"{points} points")
    seeds = raw.get("train", {}).get("seeds", 1)
    parts.append(f"{seeds} seed{'s' if seeds != 1 else ''}")
    return " × ".join(parts)


def which_variants(indices: list[int]) -> str:
    if len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"variants {indices[0]}–{indices[-1]}"
    return ("variant " if len(indices) == 1 else "variants ") + ", ".join(map(str, indices))


def size_of(raw: dict, name: str, past: float | None = None, copies: int = 1) -> str | None:
    """The question (markup) to ask before queueing a checked form, None when it trains for
    under a day, or TooBig: a thread's work, refusing what cannot fit this machine as
    `moelab run` does. `past`: seconds at the speed of this database's past runs, when
    known (the engine's cost model can be far off for small models); `copies`: 2 with its
    seed control, which trains as long again."""
    from rich.markup import escape

    from moelab.engine.config import from_dict
    from moelab.engine.estimate import DAY, check_fits, human_time
    est = check_fits(from_dict(raw, name=name), yes=True)
    seconds, past = est.seconds * copies, past * copies if past is not None else None
    if max(seconds, past or 0.0) <= DAY:
        return None
    both = " with its seed control" if copies > 1 else ""
    lines = [f"[b]This experiment{both} would train for more than a day.[/b]", "",
             f"engine's estimate: about [b]{human_time(seconds)}[/b] ({escape(est.line())}"
             + (f", × {copies}" if copies > 1 else "") + ")"]
    if past is not None:
        lines.append(f"at the speed of this database's past runs: about "
                     f"[b]{human_time(past)}[/b]")
    return "\n".join([*lines, "", "[dim]Rough estimates.[/] Queue it?"])


def control_of(raw: dict, name: str) -> dict:
    """The raw config of the form's seed control (engine/control.py, as `moelab queue
    --control` builds it); ControlError when the config sweeps the seed itself."""
    from moelab.engine.config import from_dict
    from moelab.engine.control import control_raw
    return control_raw(raw, from_dict(raw, name=name))


def control_note(raw: dict, on: bool) -> str:
    """The summary's words for the seed-control switch: which seeds the control trains."""
    if not on:
        return ""
    from moelab.engine.config import Config
    train = Config().train
    given = raw.get("train", {})
    seed, seeds = given.get("seed", train.seed), given.get("seeds", train.seeds)
    swept = any(k in ("train.seed", "train.seeds") for k in raw.get("sweep", {})) or any(
        "seed" in v.get("train", {}) or "seeds" in v.get("train", {})
        for v in raw.get("sweep", {}).get("variants", []))
    if swept:
        return " · [red]no seed control: this config sweeps the seed itself[/]"
    first, last = seed + seeds, seed + 2 * seeds - 1
    which = f"seed {first}" if first == last else f"seeds {first}–{last}"
    return f" · [b]+ a seed control[/b] (the same models again, {which})"
