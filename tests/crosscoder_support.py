"""A small database with one stored crosscoder, for the crosscoder panel and definition tests.

(No tests here; test modules import from it.)
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

MODELS = """
[model]
kind = "moe"
n_features = 6
n_experts = 2
d_hidden = 1
[data]
sparsity = 0.8
[train]
steps = 60
batch_size = 64
eval_samples = 200
log_every = 20
seeds = 1
select = "all"
[sweep]
variants = [{model = {kind = "dense", d_hidden = 2}}, {model = {}}]
"""
# 12 latents for 6 features: a few never fire on the evaluation batch (dead).
CROSSCODER = ["--steps", "40", "--latents", "12", "--k", "1", "--shared", "2",
              "--batch-size", "64", "--set", "train.eval_samples=500",
              "--set", "crosscoder.dead_steps=5"]


@functools.cache
def crosscoder_db() -> Path:
    """Experiment 1: dense m=2 (run 1) and MoE E=2 m=1 (run 2) on the same data; experiment
    2: their crosscoder (run 3)."""
    from moelab.cli import main
    folder = Path(tempfile.mkdtemp(prefix="moelab-cc-"))
    path = folder / "cc.duckdb"
    (folder / "models.toml").write_text(MODELS)
    assert main(["run", "--config", str(folder / "models.toml"), "--device", "cpu",
                 "--db", str(path)]) == 0
    assert main(["crosscode", "1", "2", *CROSSCODER, "--device", "cpu", "--db", str(path)]) == 0
    return path
