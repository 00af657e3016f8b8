"""Training dynamics: the trainer's W, b and router read at chosen steps (train.snapshots).

Steps are log-spaced by default (most change happens early), always with step 0 (the
initialisation, read before the first update) and the last step (whose snapshot is the
final weights). A snapshot also records the reconstruction loss on a small fixed batch, so
each snapshot has a loss comparable with the others of its run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Samples of the loss taken at each snapshot: 20 snapshots cost 20 forward passes of this
# many samples, next to steps x batch forward+backward ones for training.
SNAPSHOT_EVAL_SAMPLES = 2048
SNAPSHOT_EVAL_SEED = 20250103


def snapshot_steps(steps: int, n: int, spacing: str = "log") -> np.ndarray:
    """n distinct steps in 0..steps, 0 and steps included (n = 0: none).

    log: 0, then steps^(j/(n-1)) for j = 1..n-1, rounded and pushed apart where rounding
    makes two equal (early on, consecutive steps); linear: evenly spaced.
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < 2 or n > steps + 1:
        raise ValueError(f"{n} snapshots do not fit steps 0..{steps} with both ends")
    if spacing == "linear":
        raw = np.linspace(0, steps, n)
    else:
        raw = np.concatenate([[0.0], float(steps) ** (np.arange(1, n) / (n - 1))])
    out = np.rint(raw).astype(np.int64)
    out[0], out[-1] = 0, steps
    for j in range(1, n):  # strictly increasing from the start ...
        out[j] = max(out[j], out[j - 1] + 1)
    for j in range(n - 2, -1, -1):  # ... and room left for the steps after each
        out[j] = min(out[j], out[j + 1] - 1)
    return out


@dataclass
class Snapshots:
    steps: np.ndarray  # (S,)
    W: np.ndarray  # (inst, S, E, m, n) float32
    b: np.ndarray  # (inst, S, E, n)
    router: np.ndarray  # (inst, S, E, n)
    loss: np.ndarray  # (inst, S) reconstruction loss on the fixed snapshot batch


class Recorder:
    """Reads the trainer at its steps; `take(step, trainer)` is a no-op at other steps."""

    def __init__(self, steps: np.ndarray, eval_samples: int = SNAPSHOT_EVAL_SAMPLES):
        self.steps = steps
        self.eval_samples = eval_samples
        self._at = {int(s): j for j, s in enumerate(steps)}
        self._parts: list[tuple[np.ndarray, ...]] = []

    def __bool__(self) -> bool:
        return len(self.steps) > 0

    def take(self, step: int, trainer) -> None:
        if step not in self._at:
            return
        W, b, router = trainer.weights()
        loss = trainer.eval_loss(self.eval_samples, seed=SNAPSHOT_EVAL_SEED)
        self._parts.append((np.asarray(W, np.float32), np.asarray(b, np.float32),
                            np.asarray(router, np.float32), np.asarray(loss, np.float64)))

    def result(self) -> Snapshots | None:
        if not self:
            return None
        if len(self._parts) != len(self.steps):
            raise RuntimeError(f"took {len(self._parts)} of {len(self.steps)} snapshots")
        W, b, router, loss = (np.stack(a, 1) for a in zip(*self._parts, strict=True))
        return Snapshots(self.steps, W, b, router, loss)
