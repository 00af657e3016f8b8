"""The engine's version, stored with every run it trains (runs.engine_version).

Bump it when a change makes the same config train to other floats or measure other metric
values, and say in README.md what changed; runs stored before the column existed read NULL
(engine 1).

1: up to the release before the compiled metrics (NULL in runs stored then).
2: per-run metrics after training compiled (engine/cpu/metrics.py): the same definitions,
   summed sample by sample, so their last digits may differ from engine 1's.
"""

ENGINE_VERSION = 2
