"""The engine's version, stored with every run it trains (runs.engine_version).

Bump it when a change makes the same config train to other floats or measure other metric
values, and say in README.md what changed; runs stored before the column existed read NULL
(engine 1).

1: up to the release before the compiled metrics (NULL in runs stored then).
2: per-run metrics after training compiled (engine/cpu/metrics.py): the same definitions,
   summed sample by sample, so their last digits may differ from engine 1's.
3: tiny top-1 shapes (fig4's, engine/cpu/fused.py) train with a step generated per shape:
   the same model, data and updates, gradients summed in another order, so the trained
   weights differ from engine 2's in their last digits (and then as any two float orders do).
   The torch (CUDA) trainer draws each run's data and random ties from the run's own keys
   (engine/torch_rng.py) in one compiled step: its runs differ from engine 2's entirely.
"""

ENGINE_VERSION = 3
