"""The toy model's forward pass, hand-derived backward pass and losses for one instance,
compiled with numba: the CPU engine's whole training step happens here.

One instance at a time, all in cache. Per-sample arrays are tiled, (tiles, rows, L): sample s
sits in tile s // L, lane s % L, so every inner loop runs across the samples of a tile and
vectorises. The tile width L (a multiple of rng.LANES) is chosen per shape by tile_width:
wide for tiny models, whose loops would otherwise be all start-up cost. Only routed experts
are computed: the (sample, slot) entries of the top-k are sorted by expert, and each expert
runs over tiles gathered from its own entries. A dense model is one expert that every
sample routes to, with no gather.

Maths (SPEC), per instance, with c_i = 2·s·I_i (s = 1/B, or 1/(n·B) for the mean over
features):
  probs = softmax(R x); T = top-k (ties to the lower expert, or random); gate_j = v_j / Σ_T v
  (renorm) or v_j (switch); x̂ = Σ_j gate_j ReLU(W_eᵀ W_e x + b_e);
  rec = s Σ_i I_i (x̂_i − x_i)² summed over the batch; lb = α·E·Σ_e f_e·P_e with f_e the
  share of the batch routed to e (no gradient) and P_e the batch mean of probs_e.
Backward, per tile: dz = c ⊙ gate ⊙ ReLU'(z) ⊙ (x̂ − x); dh = W_e dz; dW_e += h dzᵀ + dh xᵀ;
db_e += Σ dz; and for the router dlogits = probs ⊙ (dg − Σ_e probs·dg), dR += dlogits xᵀ.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .rng import LANES
from .tiles import combine, exp, outer_add

_F = np.float32
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)

Work = namedtuple("Work", [
    "x",  # (T, n, L) the batch
    "probs",  # (T, E, L) router softmax
    "topi",  # (T, k, L) int32 the expert in each top-k slot
    "topv",  # (T, k, L) its probability
    "gate",  # (T, k, L) its gate
    "dtop",  # (T, k, L) d loss / d probability of each slot
    "ent_tile", "ent_lane", "ent_slot",  # (k·B,) int32 each entry's sample (tile, lane) and
    # top-k slot, entries (sample, slot) sorted by expert
    "starts",  # (E + 1,) int64 where each expert's entries begin
    "xhat", "diff",  # (T, n, L) k > 1: Σ_j gate_j y_j and x̂ − x
    "xg", "z", "dz",  # (n, L) a tile's inputs, pre-activations, their gradient
    "h", "dh",  # (m, L) hidden activations and their gradient
    "lg",  # (E, L) per-expert lane scratch
    "lgate", "ldgate",  # (L,) lane scratch: gates, d gates
    "zeros",  # (max(m, E),) zeros
    "lb_grad",  # (E,) d lb / d probs_e for each sample
    "ltie",  # (L,) uint32 lane scratch: the best tie-break draw so far
])


def tile_width(n: int, m: int, E: int) -> int:
    """Lanes per tile: the tile scratch (3 n + 2 m + E rows) near 16 KB, 64 … 512 lanes."""
    rows = 3 * n + 2 * m + E
    return LANES * max(1, min(8, 4096 // (LANES * rows)))


@njit(cache=True)
def make_work(n, m, E, k, B, L):
    T = (B + L - 1) // L
    tk = (T if k > 1 else 0)
    return Work(
        np.zeros((T, n, L), _F), np.zeros((T, E, L), _F), np.zeros((T, k, L), np.int32),
        np.zeros((T, k, L), _F), np.zeros((T, k, L), _F), np.zeros((T, k, L), _F),
        np.zeros(k * B, np.int32), np.zeros(k * B, np.int32), np.zeros(k * B, np.int32),
        np.zeros(E + 1, np.int64),
        np.zeros((tk, n, L), _F), np.zeros((tk, n, L), _F),
        np.zeros((n, L), _F), np.zeros((n, L), _F), np.zeros((n, L), _F),
        np.zeros((m, L), _F), np.zeros((m, L), _F), np.zeros((E, L), _F),
        np.zeros(L, _F), np.zeros(L, _F),
        np.zeros(max(m, E), _F), np.zeros(E, _F), np.zeros(L, np.uint32))


# ------------------------------------------------------------------ routing

_U32 = np.uint32


@njit(inline="always")
def _fmix32(h):
    """murmur3's finaliser: a well-mixed 32-bit hash (stays in 32-bit lanes, so it vectorises)."""
    h = _U32(h ^ (h >> _U32(16)))
    h = _U32(h * _U32(0x85EBCA6B))
    h = _U32(h ^ (h >> _U32(13)))
    h = _U32(h * _U32(0xC2B2AE35))
    return _U32(h ^ (h >> _U32(16)))


@njit(fastmath=True, cache=True)
def _break_ties(E, j, t, lt, L, tie_key, step, w):
    """Slot j of tile t: among the experts tied at the top probability, the one with the
    largest draw hash(run key, step, sample, slot, expert) wins (tie_break = "random"): a
    uniform choice that depends on nothing but the run and the sample. Branch-free over the
    lanes; exact ties are all-zero inputs in practice."""
    lg, best, tij, top = w.lg, w.lgate, w.topi[t, j], w.ltie
    base = _U32(_U32(tie_key & np.uint64(0xFFFFFFFF)) ^ _U32(tie_key >> np.uint64(32))
                ^ _U32(_U32(step) * _U32(0x9E3779B9)) ^ _U32(_U32(j) * _U32(0x7F4A7C15)))
    first = _U32(t * L)
    for l in range(lt):
        top[l] = _U32(0)
    for e in range(E):
        le = lg[e]
        ce = _U32(base ^ _U32(_U32(e + 1) * _U32(0xC2B2AE35)))
        for l in range(lt):
            h = _fmix32(_U32(ce + _U32(_U32(first + l) * _U32(0x27D4EB2F))))
            win = (le[l] == best[l]) & (h >= top[l])  # selects, not branches: vectorises
            top[l] = h if win else top[l]
            tij[l] = np.int32(e) if win else tij[l]


@njit(fastmath=True, cache=True)
def _route(R, k, B, w, tie_key, step):
    """probs = softmax(R x) and the top-k experts, their probabilities, per sample; ties to
    the lowest expert, or random ones when tie_key is not 0."""
    L = w.x.shape[2]
    E = R.shape[0]
    best, tot, lg = w.lgate, w.ldgate, w.lg
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        p = w.probs[t]
        combine(R, w.x[t], w.zeros, p, lt)
        for l in range(lt):
            best[l] = p[0, l]
        for e in range(1, E):
            pe = p[e]
            for l in range(lt):
                best[l] = max(best[l], pe[l])
        for l in range(lt):
            tot[l] = _ZERO
        for e in range(E):
            pe = p[e]
            for l in range(lt):
                v = exp(pe[l] - best[l])
                pe[l] = v
                tot[l] += v
        for l in range(lt):
            tot[l] = _ONE / tot[l]
        for e in range(E):
            pe, le = p[e], lg[e]
            for l in range(lt):
                pe[l] *= tot[l]
                le[l] = pe[l]
        # top-k by repeated arg-max; a strict > keeps ties on the lower expert
        ti, tv = w.topi[t], w.topv[t]
        for j in range(k):
            tij = ti[j]
            for l in range(lt):
                best[l] = lg[0, l]
                tij[l] = 0
            for e in range(1, E):
                le = lg[e]
                for l in range(lt):
                    if le[l] > best[l]:
                        best[l] = le[l]
                        tij[l] = e
            if tie_key != 0:
                _break_ties(E, j, t, lt, L, tie_key, step, w)
            for l in range(lt):
                tv[j, l] = best[l]
            if j + 1 < k:
                for l in range(lt):
                    lg[tij[l], l] = -_ONE


@njit(fastmath=True, cache=True)
def _gates(k, switch, B, w):
    """gate_j = v_j / Σ_j v_j (renorm; exactly 1 for k = 1) or v_j (switch)."""
    L = w.x.shape[2]
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        tv, g = w.topv[t], w.gate[t]
        if switch:
            for j in range(k):
                for l in range(lt):
                    g[j, l] = tv[j, l]
        elif k == 1:
            for l in range(lt):
                g[0, l] = _ONE  # v / v: exactly one, and no gradient reaches the router
        else:
            tot = w.ldgate
            for l in range(lt):
                tot[l] = _ZERO
            for j in range(k):
                for l in range(lt):
                    tot[l] += tv[j, l]
            for j in range(k):
                for l in range(lt):
                    g[j, l] = tv[j, l] / tot[l]


@njit(cache=True)
def _sort_entries(E, k, B, w):
    """Counting sort of the k·B entries (sample, slot) by expert."""
    L = w.x.shape[2]
    starts, topi = w.starts, w.topi
    starts[:] = 0
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        for j in range(k):
            tij = topi[t, j]
            for l in range(lt):
                starts[tij[l] + 1] += 1
    for e in range(E):
        starts[e + 1] += starts[e]
    pos = starts[:E].copy()
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        for l in range(lt):
            for j in range(k):
                e = topi[t, j, l]
                q = pos[e]
                w.ent_tile[q] = t
                w.ent_lane[q] = l
                w.ent_slot[q] = j
                pos[e] = q + 1


# ------------------------------------------------------------------ experts

@njit(fastmath=True, cache=True)
def _entry_gates(a0, lt, w):
    """The gates of entries a0 … a0+lt into w.lgate."""
    for l in range(lt):
        q = a0 + l
        w.lgate[l] = w.gate[w.ent_tile[q], w.ent_slot[q], w.ent_lane[q]]


@njit(fastmath=True, cache=True)
def _gather(src, a0, lt, w, dst):
    """dst[:, :lt] = the columns of the tiled src that entries a0 … a0+lt come from."""
    et, el = w.ent_tile[a0:a0 + lt], w.ent_lane[a0:a0 + lt]
    for i in range(dst.shape[0]):
        di = dst[i]
        for l in range(lt):
            di[l] = src[et[l], i, el[l]]


@njit(fastmath=True, cache=True)
def _store_dgates(a0, lt, w):
    for l in range(lt):
        q = a0 + l
        w.dtop[w.ent_tile[q], w.ent_slot[q], w.ent_lane[q]] = w.ldgate[l]


@njit(fastmath=True, cache=True)
def _forward(We, be, xg, lt, w):
    """h = W_e x, z = W_eᵀ h + b_e for the tile xg."""
    combine(We, xg, w.zeros, w.h, lt)
    combine(We.T, w.h, be, w.z, lt)


@njit(fastmath=True, cache=True)
def _entry_forward(We, be, a0, lt, w):
    """Gather the inputs and gates of entries a0 … a0+lt, and run expert e on them."""
    _entry_gates(a0, lt, w)
    _gather(w.x, a0, lt, w, w.xg)
    _forward(We, be, w.xg, lt, w)


@njit(fastmath=True, cache=True)
def _diff_k1(xg, lt, gates, imp, w):
    """k = 1: w.dz = gate·ReLU(z) − x; returns Σ_i I_i Σ_lanes (x̂_i − x_i)²."""
    loss = 0.0
    for i in range(xg.shape[0]):
        zi, xi, di = w.z[i], xg[i], w.dz[i]
        acc = _ZERO
        for l in range(lt):
            d = gates[l] * max(zi[l], _ZERO) - xi[l]
            di[l] = d
            acc += d * d
        loss += imp[i] * acc
    return loss


@njit(fastmath=True, cache=True)
def _backward(We, xg, lt, gates, coef, want_dgate, dWe, dbe, w):
    """From the diff tile x̂ − x in w.dz: gradients added to dW_e, db_e, and d loss / d gate
    of each entry into w.ldgate."""
    dz = w.dz
    dgate = w.ldgate
    if want_dgate:
        for l in range(lt):
            dgate[l] = _ZERO
    for i in range(xg.shape[0]):
        c = coef[i]
        zi, di = w.z[i], dz[i]
        if want_dgate:
            for l in range(lt):
                dgate[l] += c * di[l] * max(zi[l], _ZERO)
        acc = _ZERO
        for l in range(lt):
            g = c * gates[l] * di[l] if zi[l] > _ZERO else _ZERO
            di[l] = g
            acc += g
        dbe[i] += acc
    combine(We, dz, w.zeros, w.dh, lt)
    outer_add(dWe, w.h, dz, w.dh, xg, lt)


@njit(fastmath=True, cache=True)
def _dense(W, b, coef, imp, B, backward, dW, db, w):
    """One expert that every sample uses, gate 1: tiles of the batch as they are."""
    L = w.x.shape[2]
    loss = 0.0
    ones = w.lgate
    ones[:] = _ONE
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        xt = w.x[t]
        _forward(W[0], b[0], xt, lt, w)
        loss += _diff_k1(xt, lt, ones, imp, w)
        if backward:
            _backward(W[0], xt, lt, ones, coef, False, dW[0], db[0], w)
    return loss


@njit(fastmath=True, cache=True)
def _experts_k1(W, b, coef, imp, backward, want_dgate, dW, db, w):
    """Top-1: forward, loss and backward in one sweep over each expert's entries."""
    L = w.x.shape[2]
    loss = 0.0
    for e in range(W.shape[0]):
        for a0 in range(w.starts[e], w.starts[e + 1], L):
            lt = min(L, w.starts[e + 1] - a0)
            _entry_forward(W[e], b[e], a0, lt, w)
            loss += _diff_k1(w.xg, lt, w.lgate, imp, w)
            if backward:
                _backward(W[e], w.xg, lt, w.lgate, coef, want_dgate, dW[e], db[e], w)
                if want_dgate:
                    _store_dgates(a0, lt, w)
    return loss


@njit(fastmath=True, cache=True)
def _experts_topk(W, b, coef, imp, B, backward, want_dgate, dW, db, w):
    """k > 1: x̂ sums several experts, so a first sweep accumulates x̂, the loss comes from
    the whole batch, and a second sweep recomputes each tile for its backward pass."""
    L = w.x.shape[2]
    E, _, n = W.shape
    w.xhat[:] = _ZERO
    for e in range(E):
        for a0 in range(w.starts[e], w.starts[e + 1], L):
            lt = min(L, w.starts[e + 1] - a0)
            _entry_forward(W[e], b[e], a0, lt, w)
            et, el = w.ent_tile[a0:a0 + lt], w.ent_lane[a0:a0 + lt]
            for i in range(n):
                zi = w.z[i]
                for l in range(lt):
                    w.xhat[et[l], i, el[l]] += w.lgate[l] * max(zi[l], _ZERO)
    loss = 0.0
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        for i in range(n):
            xi, hi, di = w.x[t, i], w.xhat[t, i], w.diff[t, i]
            acc = _ZERO
            for l in range(lt):
                d = hi[l] - xi[l]
                di[l] = d
                acc += d * d
            loss += imp[i] * acc
    if backward:
        for e in range(E):
            for a0 in range(w.starts[e], w.starts[e + 1], L):
                lt = min(L, w.starts[e + 1] - a0)
                _entry_forward(W[e], b[e], a0, lt, w)
                _gather(w.diff, a0, lt, w, w.dz)
                _backward(W[e], w.xg, lt, w.lgate, coef, want_dgate, dW[e], db[e], w)
                if want_dgate:
                    _store_dgates(a0, lt, w)
    return loss


# ------------------------------------------------------------------ router gradient

@njit(fastmath=True, cache=True)
def _router_backward(k, switch, B, have_dtop, dR, w):
    """dR = Σ_s dlogits_s x_sᵀ with dlogits = probs ⊙ (dg − Σ_e probs·dg), where dg is the
    load-balancing term w.lb_grad plus each top-k slot's d loss / d probability."""
    L = w.x.shape[2]
    E = dR.shape[0]
    dg, tot = w.lg, w.lgate
    for t in range(w.x.shape[0]):
        lt = min(L, B - t * L)
        p, ti, dt, tv = w.probs[t], w.topi[t], w.dtop[t], w.topv[t]
        if have_dtop and not switch and k > 1:
            # gate_j = v_j / S: d/dv_j = (dgate_j − Σ_j' dgate_j' gate_j') / S
            for l in range(lt):
                S = _ZERO
                dot = _ZERO
                for j in range(k):
                    S += tv[j, l]
                    dot += dt[j, l] * tv[j, l]
                dot /= S
                for j in range(k):
                    dt[j, l] = (dt[j, l] - dot) / S
        for e in range(E):
            g = w.lb_grad[e]
            for l in range(lt):
                dg[e, l] = g
        if have_dtop:
            for j in range(k):
                for l in range(lt):
                    dg[ti[j, l], l] += dt[j, l]
        for l in range(lt):
            tot[l] = _ZERO
        for e in range(E):
            pe, ge = p[e], dg[e]
            for l in range(lt):
                tot[l] += pe[l] * ge[l]
        for e in range(E):
            pe, ge = p[e], dg[e]
            for l in range(lt):
                ge[l] = pe[l] * (ge[l] - tot[l])
        xt = w.x[t]
        for e in range(E):
            ge = dg[e]
            for i in range(dR.shape[1]):
                xi = xt[i]
                acc = _ZERO
                for l in range(lt):
                    acc += ge[l] * xi[l]
                dR[e, i] += acc


# ------------------------------------------------------------------ one instance

@njit(fastmath=True, cache=True)
def instance_loss_grad(W, b, R, coef, imp, scale, lb_coef, k, switch, B, backward,
                       dW, db, dR, w, tie_key, step):
    """Losses (rec, lb) of one instance on the first B samples in w.x, and with
    backward=True their gradients into dW (E, m, n), db (E, n), dR (E, n) (overwritten).
    tie_key (uint64; 0 = lowest expert) and step key the random routing ties."""
    L = w.x.shape[2]
    E = W.shape[0]
    if backward:
        dW[:] = _ZERO
        db[:] = _ZERO
        dR[:] = _ZERO
    if E == 1:
        return _dense(W, b, coef, imp, B, backward, dW, db, w) * scale, 0.0
    _route(R, k, B, w, tie_key, step)
    _sort_entries(E, k, B, w)
    _gates(k, switch, B, w)
    want_dgate = backward and (switch or k > 1)
    if k == 1:
        rec = _experts_k1(W, b, coef, imp, backward, want_dgate, dW, db, w)
    else:
        rec = _experts_topk(W, b, coef, imp, B, backward, want_dgate, dW, db, w)
    # load balancing: f_e from the routing (no gradient), P_e the mean probability
    lb = 0.0
    for e in range(E):
        f = (w.starts[e + 1] - w.starts[e]) / B
        P = 0.0
        for t in range(w.x.shape[0]):
            lt = min(L, B - t * L)
            pe = w.probs[t, e]
            for l in range(lt):
                P += pe[l]
        lb += f * P / B
        w.lb_grad[e] = lb_coef * E * f / B
    lb *= lb_coef * E
    if backward and (want_dgate or lb_coef != 0.0):
        _router_backward(k, switch, B, want_dgate, dR, w)
    return rec * scale, lb
