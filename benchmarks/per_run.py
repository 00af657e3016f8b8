"""The per-run work after training (issue 22, target 1), against the NumPy path it replaced,
measured in one run on the same trained units.

  python -m moelab.benchmarks.per_run [--units N] [--rounds R]

Trains N units of the full fig4 preset with one seed per cell and 10 steps (training is not
what is measured), then times, alternating, the unit's tables (toy.run_tables: every metric,
Table 1 on dense inputs, MoE Lens, the random-tie routing statistics, occupied_init) with
the compiled kernels (engine/cpu/metrics.py, what the lab runs) and with the NumPy
reference path (engine/metrics.py and engine/lens.py over instance slices, what it ran
before). Prints wall ms per run and the CPU seconds per run (all threads), and checks the
two paths agree.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

import numpy as np

from moelab.engine import lens as lens_mod
from moelab.engine import metrics as M
from moelab.engine import summary
from moelab.engine.data import sample_numpy
from moelab.engine.families import toy
from moelab.engine.plan import plan
from moelab.engine.presets import build_config
from moelab.engine.train import train_batch

_CHUNK = 1 << 22  # the NumPy path's slice bound, as it was


def _numpy_routing(W, b, router, k, p, last_scale, mono, random_ties) -> M.RoutingStats:
    n_inst, E, _, n = W.shape
    step = max(1, _CHUNK // (summary.ROUTING_SAMPLES * max(n, E) * (E if k > 1 else 1)))
    parts = []
    for s in range(0, n_inst, step):
        sl = slice(s, s + step)
        x = sample_numpy(p[sl], last_scale[sl], summary.ROUTING_SAMPLES,
                         summary.ROUTING_SEED).astype(np.float64)
        parts.append(M.routing_stats(W[sl], b[sl], router[sl], x, k, mono[sl],
                                     None if random_ties is None else random_ties[sl]))
    return M.RoutingStats(*(np.concatenate([getattr(q, f) for q in parts])
                            for f in M.RoutingStats.__dataclass_fields__))


def _numpy_dense(router, k, mono) -> M.DenseUsage:
    n = router.shape[-1]
    x = np.random.default_rng(summary.DENSE_SEED).random((summary.ROUTING_SAMPLES, n))
    return M.dense_usage(router, k, mono, x)


def _numpy_lens(W, b, router, k, gating, importance, p, last_scale, reduction="sum"):
    W, b, router = (np.asarray(a, dtype=np.float64) for a in (W, b, router))
    n_inst, E, _, n = W.shape
    step = max(1, _CHUNK // (E * lens_mod.LENS_SAMPLES * n))
    parts = []
    for s in range(0, n_inst, step):
        sl = slice(s, s + step)
        x = sample_numpy(p[sl], last_scale[sl], lens_mod.LENS_SAMPLES,
                         lens_mod.LENS_SEED).astype(np.float64)
        parts.append(lens_mod.lens(W[sl], b[sl], router[sl], x, k, gating,
                                   np.asarray(importance[sl], dtype=np.float64), reduction))
    out = {key: np.concatenate([q[key] for q in parts]) for key in parts[0]}
    return {"lens": {"local_index": np.arange(n_inst),
                     **{key: v for key, v in out.items() if v.ndim == 1}},
            "lens_experts": {"local_index": np.repeat(np.arange(n_inst), E),
                             "expert": np.tile(np.arange(E), n_inst),
                             "ablation_loss": out["ablation_loss"].ravel(),
                             "ablation_loss_ratio": out["ablation_loss_ratio"].ravel()}}


@contextmanager
def numpy_path():
    """The NumPy reference in place of the compiled kernels, for the baseline rounds."""
    saved = (summary._routing_in_chunks, summary._dense_usage_in_chunks,
             lens_mod.lens_tables)
    summary._routing_in_chunks = _numpy_routing
    summary._dense_usage_in_chunks = _numpy_dense
    lens_mod.lens_tables = _numpy_lens
    try:
        yield
    finally:
        (summary._routing_in_chunks, summary._dense_usage_in_chunks,
         lens_mod.lens_tables) = saved


def _timed(runs, res, chosen) -> tuple[float, float, dict]:
    w, c = time.perf_counter(), time.process_time()
    tables = toy.run_tables(runs, res, chosen)
    return time.perf_counter() - w, time.process_time() - c, tables


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=4, help="fig4 units to measure (of 8)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    cfg = build_config("fig4", sets=["train.seeds=1", "train.steps=10"])
    units = plan(cfg, 1)
    picked = units[::max(1, len(units) // args.units)][:args.units]
    trained = []
    for unit in picked:
        runs = toy.runs_of(unit.config, unit.run_indices)
        trained.append((runs, train_batch(runs, "cpu"), np.zeros(len(runs), bool)))
    n_runs = sum(len(r) for r, _, _ in trained)
    toy.run_tables(*trained[0])  # load the kernels before timing
    wall = {"compiled": [], "numpy": []}
    cpu = {"compiled": [], "numpy": []}
    for _ in range(args.rounds):
        for path in ("compiled", "numpy"):
            tw = tc = 0.0
            for runs, res, chosen in trained:
                if path == "numpy":
                    with numpy_path():
                        dw, dc, t_np = _timed(runs, res, chosen)
                else:
                    dw, dc, t_c = _timed(runs, res, chosen)
                tw, tc = tw + dw, tc + dc
            wall[path].append(tw)
            cpu[path].append(tc)
    # the two paths measure the same thing (last unit)
    for table, column in (("runs", "fpd"), ("experts", "usage"), ("lens", "full_loss")):
        if table in t_np:
            np.testing.assert_allclose(np.asarray(t_c[table][column], float),
                                       np.asarray(t_np[table][column], float), rtol=1e-8)
    print(f"per-run work after training, {n_runs} fig4 runs in {len(trained)} units, "
          f"{args.rounds} alternating rounds (medians):")
    for path in ("numpy", "compiled"):
        print(f"  {path:8s} {1e3 * statistics.median(wall[path]) / n_runs:6.3f} ms/run wall, "
              f"{1e3 * statistics.median(cpu[path]) / n_runs:6.3f} ms/run CPU (all threads)")
    ratio = statistics.median(wall["numpy"]) / statistics.median(wall["compiled"])
    print(f"  speed-up {ratio:.1f}x (wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
