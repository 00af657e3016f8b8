"""Uniform random numbers for the CPU kernel: xoshiro128+ streams, one per SIMD lane.

Each instance owns LANES independent streams (state (4, LANES) uint32), stepped together
so the update vectorises across lanes. The top 24 bits of each output make a float32
uniform on [0, 1) (xoshiro128+'s weak low bits are dropped). States are seeded with
splitmix64 from a 64-bit key per instance, so an instance's data depends on its key only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LANES = 64  # random-number streams per instance, stepped side by side

_U = np.uint32
_TO_UNIT = np.float32(1.0 / (1 << 24))


def _splitmix64(x: int) -> tuple[int, int]:
    mask = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & mask
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return x, z ^ (z >> 31)


def seed_states(keys: list[int]) -> np.ndarray:
    """(inst, 4, LANES) uint32 xoshiro128+ states, one stream per lane, from one key each."""
    out = np.empty((len(keys), 4, LANES), dtype=np.uint32)
    for i, key in enumerate(keys):
        s = int(key) & ((1 << 64) - 1)
        words = []
        for _ in range(2 * LANES):
            s, z = _splitmix64(s)
            words += [z & 0xFFFFFFFF, z >> 32]
        w = np.asarray(words, dtype=np.uint64).astype(np.uint32).reshape(LANES, 4).T
        w[0] |= (w.sum(0) == 0).astype(np.uint32)  # an all-zero state would stay zero
        out[i] = w
    return out


@njit(fastmath=True, cache=True)
def fill_sparse(state, neg_inv_p, last_scale, B, x):
    """Fill the first B samples of x (tiles, n_features, L) with fresh data:
    x_i = max(0, 1 − u/p_i), which is 0 with probability 1 − p_i and otherwise uniform on
    (0, 1]; the last feature times last_scale. One uniform per element: sample s, feature i
    takes the next number of lane s % LANES of `state` (4, LANES), blocks of LANES samples
    in order and features in order within a block, whatever the tile width L."""
    n, L = x.shape[1], x.shape[2]
    # private copies: the four rows of one array could alias x as far as the compiler knows
    s0, s1, s2, s3 = state[0].copy(), state[1].copy(), state[2].copy(), state[3].copy()
    for s_start in range(0, B, LANES):
        lt = min(LANES, B - s_start)
        t, l0 = s_start // L, s_start % L
        for i in range(n):
            q = neg_inv_p[i]
            xi = x[t, i, l0:l0 + lt]
            for l in range(lt):
                a0, a1, a2, a3 = s0[l], s1[l], s2[l], s3[l]
                r = _U(a0 + a3)
                tmp = _U(a1 << _U(9))
                a2 ^= a0
                a3 ^= a1
                a1 ^= a2
                a0 ^= a3
                a2 ^= tmp
                a3 = _U((a3 << _U(11)) | (a3 >> _U(21)))
                s0[l], s1[l], s2[l], s3[l] = a0, a1, a2, a3
                u = np.float32(r >> _U(8)) * _TO_UNIT
                xi[l] = max(np.float32(0.0), np.float32(1.0) + u * q)
        if last_scale != 1.0:
            xn = x[t, n - 1, l0:l0 + lt]
            for l in range(lt):
                xn[l] *= last_scale
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@njit(nogil=True, cache=True)
def fill_repeat(state, neg_inv_p, B, x, reps):
    """fill_sparse reps times, without the GIL: the streams alone, for `moelab bench`'s
    random-number peak (neg_inv_p = −1 makes plain uniforms, 1 − u)."""
    for _ in range(reps):
        fill_sparse(state, neg_inv_p, 1.0, B, x)
