"""The fused step of tiny top-1 shapes (engine/cpu/fused.py): a run trains to bitwise the
same weights alone or in a batch that mixes tie rules, on one thread or several."""

import numpy as np
import torch

from moelab.engine.config import from_dict
from moelab.engine.cpu import fused
from moelab.engine.sweep import expand
from moelab.engine.train import train_batch


def test_fig4_shapes_take_the_fused_step_and_larger_ones_do_not():
    for n, m in ((2, 1), (3, 1), (3, 2)):
        for E in range(1, n + 1):
            assert fused.fits(n, m, E, 1)
    assert not fused.fits(3, 2, 3, 2)  # top-2
    assert not fused.fits(20, 5, 1, 1)  # W2
    assert not fused.fits(100, 10, 10, 1)  # W3


def test_random_and_lowest_ties_in_one_batch_train_as_alone_on_any_thread_count():
    runs = expand(from_dict({
        "model": {"kind": "moe", "n_features": 3, "d_hidden": 2, "n_experts": 3, "k": 1},
        "train": {"steps": 40, "batch_size": 100, "lb_coef": 0.01, "eval_samples": 256,
                  "seeds": 2},
        "sweep": {"data.sparsity": [0.6, 0.95], "model.tie_break": ["lowest", "random"]}}))
    assert {r.model.tie_break for r in runs} == {"lowest", "random"}
    together = train_batch(runs)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        for i, r in enumerate(runs):
            alone = train_batch([r])
            for name in ("W", "b", "router"):
                assert np.array_equal(getattr(alone, name)[0], getattr(together, name)[i]), \
                    (r.model.tie_break, name)
    finally:
        torch.set_num_threads(threads)
