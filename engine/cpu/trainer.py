"""Training a batch of runs on the CPU: the compiled step (step.py) over NumPy arrays, one
range of instances per thread.

Each instance draws its data from its own streams, keyed by its data settings and seed, its
initial weights come from its own key (engine/inits.py), and its random routing ties from
its tie key, so a run trains to the same weights whatever else shares its batch, on any
number of threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import fused
from . import step as compiled
from .kernel import tile_width
from .rng import seed_states

_F = np.float32
BETAS = (0.9, 0.999)
EPS = 1e-8


def _loss_scale(importance: np.ndarray, batch: int, reduction: str):
    """s of rec = s Σ_batch Σ_i I_i (x̂_i − x_i)² (1/B, or 1/(n·B) for the mean over features),
    and c = 2·s·I, so that d rec / d x̂ = c ⊙ (x̂ − x)."""
    scale = 1.0 / batch / (importance.shape[-1] if reduction == "mean" else 1)
    return scale, (2.0 * scale * importance).astype(_F)


class CpuTrainer:
    device = "cpu"

    def __init__(self, init: tuple[np.ndarray, np.ndarray, np.ndarray], settings,
                 data_keys: list[int], k: int, gating: str, reduction: str, batch_size: int,
                 lr: float, weight_decay: float, threads: int, tie_keys=None):
        self.params = tuple(np.ascontiguousarray(a, dtype=_F) for a in init)  # W, b, router
        self.grads = tuple(np.zeros_like(a) for a in self.params)
        self.m1 = tuple(np.zeros_like(a) for a in self.params)
        self.m2 = tuple(np.zeros_like(a) for a in self.params)
        n_inst, E, m, n = self.params[0].shape
        self.L = tile_width(n, m, E)
        # tiny top-1 shapes (fig4's) train with a step generated for their shape (fused.py)
        self.fused = fused.kernels(n, m, E, gating == "switch")[0] if fused.fits(n, m, E, k) \
            else None
        self.n_inst, self.k, self.switch = n_inst, k, gating == "switch"
        self.batch, self.lr, self.wd = batch_size, lr, weight_decay
        self.p = np.asarray(settings.p, dtype=np.float64)
        self.neg_inv_p = (-1.0 / self.p).astype(_F)
        self.last_scale = np.asarray(settings.last_scale, dtype=_F)
        self.importance = np.asarray(settings.importance, dtype=_F)
        self.scale, self.coef = _loss_scale(self.importance, batch_size, reduction)
        self.lb_coef = np.asarray(settings.lb_coef, dtype=_F)
        self.state = seed_states(data_keys)
        self.tie_keys = _tie_keys(tie_keys, n_inst)
        self.rec, self.lb, self.router_grad_norm = (np.zeros(n_inst, _F) for _ in range(3))
        n_threads = max(1, min(threads, n_inst))
        self.ranges = [(n_inst * c // n_threads, n_inst * (c + 1) // n_threads)
                       for c in range(n_threads)]
        self.pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None

    def _parallel(self, fn, *args) -> None:
        if self.pool is None:
            fn(0, self.n_inst, *args)
            return
        for job in [self.pool.submit(fn, lo, hi, *args) for lo, hi in self.ranges]:
            job.result()

    def step(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step t (from 1) of every instance: (rec, lb, router gradient norm), each (inst,),
        measured before the update."""
        return self.steps(t, t)

    def steps(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps first … last, each thread running all of them on its instances in one
        hand-over (a hand-over costs about 0.15 ms; a small instance's step, microseconds).
        Returns step last's (rec, lb, router gradient norm)."""
        b1, b2 = BETAS
        ts = range(first, last + 1)
        # the bias corrections in Python floats, exactly as one step at a time computed them
        bc1 = np.array([1 - b1 ** t for t in ts])
        bc2 = np.array([1 - b2 ** t for t in ts])
        adam = (self.lr, self.wd, b1, b2, EPS)
        if self.fused is not None:
            self._parallel(self.fused, self.params, self.grads, self.m1, self.m2, self.state,
                           self.neg_inv_p, self.last_scale, self.coef, self.importance,
                           self.scale, self.lb_coef, self.batch, adam, bc1, bc2, self.rec,
                           self.lb, self.router_grad_norm, self.tie_keys, first)
            return self.rec.copy(), self.lb.copy(), self.router_grad_norm.copy()
        self._parallel(compiled.train_steps, self.params, self.grads, self.m1, self.m2,
                       self.state, self.neg_inv_p, self.last_scale, self.coef,
                       self.importance, self.scale, self.lb_coef, self.k, self.switch,
                       self.batch, self.L, adam, bc1, bc2,
                       self.rec, self.lb, self.router_grad_norm, self.tie_keys, first)
        return self.rec.copy(), self.lb.copy(), self.router_grad_norm.copy()

    def eval_loss(self, n_samples: int, seed: int) -> np.ndarray:
        """Reconstruction loss on one fresh batch of n_samples that every instance shares."""
        n = self.p.shape[1]
        u = np.random.default_rng(seed).random((n, n_samples), dtype=_F)
        out = np.zeros(self.n_inst, _F)
        scale = self.scale * self.batch / n_samples
        self._parallel(compiled.eval_loss, self.params, u, self.p.astype(_F), self.last_scale,
                       self.importance, scale, self.k, self.switch, self.L, out, self.tie_keys)
        return out.astype(np.float64)

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(a.copy() for a in self.params)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


def _tie_keys(keys, n_inst: int) -> np.ndarray:
    """(inst,) uint64 tie keys; None: every instance sends ties to the lowest expert."""
    if keys is None:
        return np.zeros(n_inst, np.uint64)
    return np.array([int(k) & ((1 << 64) - 1) for k in keys], dtype=np.uint64)


def loss_and_grads(params: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray,
                   importance: np.ndarray, lb_coef: np.ndarray, k: int, gating: str,
                   reduction: str = "sum", tie_keys=None, generic: bool = False):
    """Losses and gradients of the compiled kernel on given data x (inst, batch, n):
    ((rec, lb), (dW, db, d_router)), from the step training uses for this shape (the
    generic kernel with generic=True). For tests and inspection; training draws its own
    data."""
    params = tuple(np.ascontiguousarray(a, dtype=_F) for a in params)
    n_inst, batch, n = x.shape
    _, E, m, _ = params[0].shape
    imp = np.ascontiguousarray(importance, dtype=_F)
    scale, coef = _loss_scale(imp, batch, reduction)
    grads = tuple(np.zeros_like(a) for a in params)
    rec, lb = np.zeros(n_inst, _F), np.zeros(n_inst, _F)
    xt = np.ascontiguousarray(np.swapaxes(np.asarray(x, dtype=_F), 1, 2))
    lbc = np.ascontiguousarray(lb_coef, dtype=_F)
    if fused.fits(n, m, E, k) and not generic:
        fused.kernels(n, m, E, gating == "switch")[1](
            0, n_inst, params, xt, imp, coef, scale, lbc, rec, lb, grads,
            _tie_keys(tie_keys, n_inst))
        return (rec, lb), grads
    compiled.loss_grad(0, n_inst, params, xt, imp, coef, scale, lbc, k, gating == "switch",
                       tile_width(n, m, E), rec, lb, grads, _tie_keys(tie_keys, n_inst))
    return (rec, lb), grads
