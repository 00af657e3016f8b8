"""Known results reproduced by training (slow: run with `./test -m slow`)."""

import numpy as np
import pytest
from runner_support import run_in_memory

from moelab.engine.presets import build_config

pytestmark = pytest.mark.slow


def _runs(result, col):
    return np.concatenate([c["runs"][col] for c in result.chunks])


def test_tms_classic_superposition_grows_with_sparsity():
    r = run_in_memory(build_config("tms-classic", sets=["train.seeds=1"]), "cpu")
    sparsity = np.concatenate([c["runs"]["sparsity"] for c in r.chunks])
    fpd = _runs(r, "fpd")
    dense_end = fpd[np.argmin(sparsity)]
    sparse_end = fpd[np.argmax(sparsity)]
    assert dense_end == pytest.approx(1.0, abs=0.15)  # m features, one per dimension
    assert sparse_end > 3.0  # Elhage: most of n=20 features packed into m=5


def test_two_features_in_one_dimension_go_antipodal_when_sparse():
    cfg = build_config(raw={"model": {"kind": "dense", "n_features": 2, "d_hidden": 1},
                            "data": {"sparsity": 0.95},
                            "train": {"steps": 6000, "seeds": 10, "batch_size": 512}})
    r = run_in_memory(cfg, "cpu")
    best = np.argmin(r.eval_loss)
    f = r.chunks[0]["features"]
    dims = f["dimensionality"].reshape(10, 2)[best]
    assert dims == pytest.approx([0.5, 0.5], abs=0.1)
