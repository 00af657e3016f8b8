"""A toy config on its way through the store: Config.to_json() in an experiment row, read
back when its turn comes (even after a restart), and as a raw dict again for edits."""

from __future__ import annotations

import json

from .config import Config, from_dict


def raw_from_config(cfg: Config) -> dict:
    """A raw dict that from_dict turns back into the same Config (sweep axes flattened)."""
    d = cfg.to_dict()
    sweep = d.pop("sweep")
    d["sweep"] = {**sweep["axes"], "variants": sweep["variants"]}
    return d


def config_from_stored(text: str) -> Config:
    """The Config an experiment row holds (Config.to_json())."""
    stored = json.loads(text)
    return from_dict(raw_from_dict(stored), name=str(stored.get("name", "experiment")))


def raw_from_dict(stored: dict) -> dict:
    raw = {k: v for k, v in stored.items() if k not in ("sweep", "name")}
    sweep = stored.get("sweep") or {}
    raw["sweep"] = {**(sweep.get("axes") or {}), "variants": sweep.get("variants") or []}
    return raw
