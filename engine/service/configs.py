"""Configs on their way into the queue: submitted as raw TOML-shaped dicts (or a preset
name), validated by their family, stored as the family config's to_json()."""

from __future__ import annotations

from ..config import ConfigError


def submitted_config(raw: dict | None, preset: str | None = None, quick: bool = False,
                     name: str | None = None, store=None, metrics=()):
    """The validated config of a submission, named like `moelab run` names it, with the
    registered metrics added where its family computes them. A config names its family with
    a top-level "family" key; the family validates it, with the store for what it must check
    there (a crosscoder: do its two runs exist and match)."""
    from ..families import family_of
    from ..presets import get
    if raw is None:
        if preset is None:
            raise ConfigError(["give a config or a preset name"])
        raw = get(preset).raw(quick)
    if not isinstance(raw, dict):
        raise ConfigError(["the config must be a table of [model] [data] [train] [sweep]"])
    if name is None and preset is not None:
        name = preset + (" --quick" if quick else "")
    try:
        fam = family_of(raw)
    except ValueError as err:
        raise ConfigError([str(err)]) from None
    return fam.with_registered_metrics(fam.submitted(raw, name, store), metrics)
