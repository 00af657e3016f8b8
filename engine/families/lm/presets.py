"""Presets of the lm family: `moelab run lm-pair [--quick]`.

lm-pair: a dense and an MoE transformer with equal active parameters, one [model] variant
apart (n_experts, k: each expert d_mlp / k wide), trained on the same batches of the three
built-in domains, then MoE Lens on the MoE. Times were measured on the 2-core development
machine (README.md: "Small language models"); the full form is sized to about an hour there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LMPreset:
    name: str
    summary: str
    build: Callable[[bool], dict]  # quick -> raw lm config
    minutes: tuple[float, float]  # (full, quick) measured here, CPU


def _lm_pair(quick: bool) -> dict:
    if quick:
        model = {"n_layers": 2, "d_model": 64, "n_heads": 4, "context": 64, "d_mlp": 256,
                 "vocab_size": 1024}
        moe = {"n_experts": 4, "k": 2}
        data = {"chars": 200_000}
        train = {"steps": 400, "batch_size": 16, "lr": 3e-3, "eval_tokens": 4096,
                 "snapshots": 4}
    else:
        model = {"n_layers": 4, "d_model": 128, "n_heads": 4, "context": 128, "d_mlp": 512,
                 "vocab_size": 4096}
        moe = {"n_experts": 8, "k": 2}
        data = {"chars": 2_000_000}
        train = {"steps": 2000, "batch_size": 32, "lr": 2e-3, "eval_tokens": 16_384,
                 "snapshots": 8}
    return {"family": "lm", "model": {**model, "gating": "renorm"},
            "data": {"domains": ["code", "docs", "data"], **data},
            "train": {**train, "lb_coef": 0.01, "seed": 0},
            "sweep": {"variants": [{"model": {"n_experts": 1, "k": 1}}, {"model": moe}]}}


LM_PRESETS: dict[str, LMPreset] = {p.name: p for p in [
    LMPreset("lm-pair", "a dense and an MoE transformer with equal active parameters (MoE: "
             "E=8, k=2, experts d_mlp/2 wide; --quick: 2 layers, E=4) on Python code, the "
             "Language Reference and matplotlib data, then MoE Lens", _lm_pair, (65.0, 1.0)),
]}
