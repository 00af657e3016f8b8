"""Steps over a range of instances of a batch: fresh data, losses, gradients and the AdamW
update of each instance. Compiled without the GIL, so that threads can run disjoint ranges
at once (engine/cpu/trainer.py splits a batch into one range per thread); an instance's
arithmetic does not depend on the split, so results are identical for any thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernel import instance_loss_grad, make_work
from .rng import fill_sparse

_F = np.float32


@njit(fastmath=True, cache=True)
def _adamw(p, g, m, v, lr, wd, b1, b2, eps, bc1, bc2):
    """torch.optim.AdamW's update: decoupled weight decay, bias-corrected moments."""
    pf, gf, mf, vf = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    decay = _F(1.0 - lr * wd)
    step = _F(lr / bc1)
    inv_sqrt_bc2 = _F(1.0 / np.sqrt(bc2))
    c1, c2 = _F(1.0 - b1), _F(1.0 - b2)
    b2f = _F(b2)
    epsf = _F(eps)
    for q in range(pf.size):
        gq = gf[q]
        mq = mf[q] + c1 * (gq - mf[q])
        vq = b2f * vf[q] + c2 * gq * gq
        mf[q] = mq
        vf[q] = vq
        pf[q] = pf[q] * decay - step * mq / (np.sqrt(vq) * inv_sqrt_bc2 + epsf)


@njit(nogil=True, cache=True)
def train_steps(lo, hi, params, grads, m1, m2, state, neg_inv_p, last_scale, coef, imp, scale,
                lb_coef, k, switch, batch, L, adam, bc1, bc2, rec, lb, router_grad_norm,
                tie_keys, t_first):
    """Steps t_first … t_first + len(bc1) − 1 of every instance, one instance at a time (its
    weights stay in cache, and a thread gets many steps per hand-over). params/grads/m1/m2
    are (W, b, R) tuples of (inst, …) arrays; adam = (lr, weight_decay, beta1, beta2, eps);
    bc1/bc2 the bias corrections of each step; tie_keys (inst,) uint64 key each instance's
    random routing ties (0: lowest expert). Writes each instance's rec and lb losses and
    router gradient norm at the last step (before its update)."""
    W, b, R = params
    dW, db, dR = grads
    _, E, m, n = W.shape
    lr, wd, b1, b2, eps = adam
    w = make_work(n, m, E, k, batch, L)
    for i in range(lo, hi):
        for j in range(bc1.size):
            fill_sparse(state[i], neg_inv_p[i], last_scale[i], batch, w.x)
            r, l = instance_loss_grad(W[i], b[i], R[i], coef[i], imp[i], scale, lb_coef[i], k,
                                      switch, batch, True, dW[i], db[i], dR[i], w, tie_keys[i],
                                      t_first + j)
            _adamw(W[i], dW[i], m1[0][i], m2[0][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
            _adamw(b[i], db[i], m1[1][i], m2[1][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
            if E > 1:  # a dense model's router is never used: no gradient, no decay
                _adamw(R[i], dR[i], m1[2][i], m2[2][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
        rec[i] = r
        lb[i] = l
        router_grad_norm[i] = np.sqrt(np.sum(dR[i] * dR[i]))


@njit(nogil=True, cache=True)
def eval_loss(lo, hi, params, u, p, last_scale, imp, scale, k, switch, L, rec, tie_keys):
    """Reconstruction loss of every instance on one shared batch of uniforms u (n, N):
    x_i = u_i / p_i where u_i < p_i, else 0 (the last feature times last_scale)."""
    W, b, R = params
    _, E, m, n = W.shape
    N = u.shape[1]
    w = make_work(n, m, E, k, N, L)
    dummy_w = np.empty((E, m, n), _F)
    dummy_b = np.empty((E, n), _F)
    for i in range(lo, hi):
        for f in range(n):
            pf = _F(p[i, f])
            sc = _F(last_scale[i]) if f == n - 1 else _F(1.0)
            for s in range(N):
                v = u[f, s]
                w.x[s // L, f, s % L] = v / pf * sc if v < pf else _F(0.0)
        r, _ = instance_loss_grad(W[i], b[i], R[i], imp[i], imp[i], scale, _F(0.0), k, switch,
                                  N, False, dummy_w, dummy_b, dummy_b, w, tie_keys[i], 0)
        rec[i] = r


@njit(nogil=True, cache=True)
def loss_grad(lo, hi, params, x, imp, coef, scale, lb_coef, k, switch, L, rec, lb, grads,
              tie_keys):
    """Losses and gradients of every instance on given data x (inst, n, B): for tests and
    inspection; training draws its own data in train_steps."""
    W, b, R = params
    dW, db, dR = grads
    _, E, m, n = W.shape
    B = x.shape[2]
    w = make_work(n, m, E, k, B, L)
    for i in range(lo, hi):
        for f in range(n):
            for s in range(B):
                w.x[s // L, f, s % L] = x[i, f, s]
        r, l = instance_loss_grad(W[i], b[i], R[i], coef[i], imp[i], scale, lb_coef[i],
                                  k, switch, B, True, dW[i], db[i], dR[i], w, tie_keys[i], 0)
        rec[i] = r
        lb[i] = l
