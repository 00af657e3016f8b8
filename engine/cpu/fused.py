"""A fused training step for tiny top-1 shapes (n ≤ 4, m ≤ 2, E ≤ 4: fig4's, fig5's, W1),
generated per shape so that everything stays in registers.

The generic kernel (kernel.py) routes, counting-sorts the samples by expert, gathers each
expert's tiles and runs loops over features and hidden units; for n = 3, m = 2, E = 3 those
loops are one to three iterations long and the sort and gathers cost more than the model
(about 63 ns a sample). Here one loop over the samples does all of it: the instance's weights
are named locals, every loop over features, hidden units and experts is written out, the
routed expert's weights are selected per sample (branch-free, so the loop vectorises across
samples), and every gradient is a running sum in a local. The router's gradient needs the
batch's routing shares f_e (the load-balancing loss), known only after the loop; it is
Σ_f (g_e − g_f) Σ_s p_e p_f x_s with g_e = α·E·f_e / B, so the loop keeps the sums
Σ_s p_e p_f x_s and no per-sample state.

The source of each shape's functions is generated below and compiled by numba with its file
set to this module, so the machine code is cached beside this file like the other kernels;
the names carry a hash of the sources they inline (rng.py, tiles.py, step.py), so an edit to
any of them compiles afresh.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
from numba import njit

from .rng import LANES, fill_sparse
from .step import _adamw
from .tiles import exp

_HERE = Path(__file__).resolve().parent
_DEPS = hashlib.blake2b(b"".join((_HERE / f).read_bytes() for f in
                                 ("fused.py", "rng.py", "tiles.py", "step.py")),
                        digest_size=4).hexdigest()


def fits(n: int, m: int, E: int, k: int) -> bool:
    """Whether a shape takes the fused step: top-1 and small enough that the written-out
    loop body stays a few hundred operations (fig4, fig5 and W1 do)."""
    return k == 1 and n <= 4 and E <= 4 and m <= 2 and E * m * n <= 24


def _body(n: int, m: int, E: int, switch: bool, ties: bool) -> list[str]:
    """The per-sample statements (indented for the sample loop)."""
    rn, rm, rE = range(n), range(m), range(E)
    s = [f"x{i} = xr{i}[l]" for i in rn]
    if E > 1:
        for e in rE:
            s.append(f"a{e} = " + " + ".join(f"R{e}_{i} * x{i}" for i in rn))
        mx = "a0"
        for e in range(1, E):
            mx = f"max({mx}, a{e})"
        s.append(f"mx = {mx}")
        s += [f"v{e} = exp(a{e} - mx)" for e in rE]
        s.append("inv = _ONE / (" + " + ".join(f"v{e}" for e in rE) + ")")
        s += [f"p{e} = v{e} * inv" for e in rE]
        s += ["best = p0", "top = _I[0]"]
        for e in range(1, E):  # strict >: ties stay on the lower expert
            s += [f"gt = p{e} > best", f"best = p{e} if gt else best",
                  f"top = _I[{e}] if gt else top"]
        if ties:  # among the tied experts, the largest draw of (run, step, sample, expert)
            s += ["th = _U32(0)", "sl = _U32(_U32(l) * _U32(0x27D4EB2F))"]
            for e in rE:
                s += [f"h = _fmix32(_U32(ce{e} + sl))",
                      f"win = (p{e} == best) & (h >= th)",
                      "th = h if win else th", f"top = _I[{e}] if win else top"]
        s += [f"s{e} = top == _I[{e}]" for e in rE]
        for j in rm:
            for i in rn:
                s.append(f"w{j}_{i} = W0_{j}_{i}")
                s += [f"w{j}_{i} = W{e}_{j}_{i} if s{e} else w{j}_{i}" for e in range(1, E)]
        for i in rn:
            s.append(f"c{i} = b0_{i}")
            s += [f"c{i} = b{e}_{i} if s{e} else c{i}" for e in range(1, E)]
    else:
        s += [f"w{j}_{i} = W0_{j}_{i}" for j in rm for i in rn]
        s += [f"c{i} = b0_{i}" for i in rn]
    for j in rm:
        s.append(f"h{j} = " + " + ".join(f"w{j}_{i} * x{i}" for i in rn))
    for i in rn:
        s.append(f"z{i} = " + " + ".join(f"w{j}_{i} * h{j}" for j in rm) + f" + c{i}")
        s.append(f"y{i} = max(z{i}, _ZERO)")
    gate = "best * " if switch else ""
    s += [f"d{i} = {gate}y{i} - x{i}" for i in rn]
    s.append("loss += " + " + ".join(f"I{i} * d{i} * d{i}" for i in rn))
    s += [f"dz{i} = {gate}C{i} * d{i} if z{i} > _ZERO else _ZERO" for i in rn]
    for j in rm:
        s.append(f"dh{j} = " + " + ".join(f"w{j}_{i} * dz{i}" for i in rn))
    s += [f"q{j}_{i} = h{j} * dz{i} + dh{j} * x{i}" for j in rm for i in rn]
    if E == 1:
        s += [f"gW0_{j}_{i} += q{j}_{i}" for j in rm for i in rn]
        s += [f"gb0_{i} += dz{i}" for i in rn]
        return s
    for e in rE:
        s += [f"gW{e}_{j}_{i} += q{j}_{i} if s{e} else _ZERO" for j in rm for i in rn]
        s += [f"gb{e}_{i} += dz{i} if s{e} else _ZERO" for i in rn]
        s += [f"cnt{e} += _ONE if s{e} else _ZERO", f"P{e} += p{e}"]
    for e in rE:
        for f in range(e + 1, E):
            s.append(f"pp = p{e} * p{f}")
            s += [f"S{e}_{f}_{i} += pp * x{i}" for i in rn]
    if switch:  # d loss / d gate, the gate being the top probability
        s.append("dt = " + " + ".join(f"C{i} * d{i} * y{i}" for i in rn))
        for e in rE:
            s.append(f"u = p{e} * ((_ONE if s{e} else _ZERO) - best) * dt")
            s += [f"T{e}_{i} += u * x{i}" for i in rn]
    return s


def _source(n: int, m: int, E: int, switch: bool, ties: bool, name: str) -> str:
    rn, rm, rE = range(n), range(m), range(E)
    head = [f"W{e}_{j}_{i} = W[{e}, {j}, {i}]" for e in rE for j in rm for i in rn]
    head += [f"b{e}_{i} = b[{e}, {i}]" for e in rE for i in rn]
    head += [f"C{i} = coef[{i}]" for i in rn] + [f"I{i} = imp[{i}]" for i in rn]
    head += [f"xr{i} = x[0, {i}]" for i in rn]
    acc = [f"gW{e}_{j}_{i}" for e in rE for j in rm for i in rn]
    acc += [f"gb{e}_{i}" for e in rE for i in rn] + ["loss"]
    if E > 1:
        head += [f"R{e}_{i} = R[{e}, {i}]" for e in rE for i in rn]
        acc += [f"cnt{e}" for e in rE] + [f"P{e}" for e in rE]
        acc += [f"S{e}_{f}_{i}" for e in rE for f in range(e + 1, E) for i in rn]
        if switch:
            acc += [f"T{e}_{i}" for e in rE for i in rn]
    if ties:
        head.append("base = _U32(_U32(tie_key & np.uint64(0xFFFFFFFF)) ^ "
                    "_U32(tie_key >> np.uint64(32)) ^ _U32(_U32(step) * _U32(0x9E3779B9)))")
        head += [f"ce{e} = _U32(base ^ _U32(_U32({e + 1}) * _U32(0xC2B2AE35)))" for e in rE]
    head += [f"{a} = _ZERO" for a in acc]
    tail = [f"dW[{e}, {j}, {i}] = gW{e}_{j}_{i}" for e in rE for j in rm for i in rn]
    tail += [f"db[{e}, {i}] = gb{e}_{i}" for e in rE for i in rn]
    if E > 1:
        tail += [f"g{e} = lb_coef * {E} * (cnt{e} / B) / B" for e in rE]
        tail.append(f"lb = lb_coef * {E} * (" + " + ".join(
            f"np.float64(cnt{e}) / B * np.float64(P{e})" for e in rE) + ") / B")
        for e in rE:
            for i in rn:
                terms = [f"(g{e} - g{f}) * S{min(e, f)}_{max(e, f)}_{i}" for f in rE if f != e]
                if switch:
                    terms.append(f"T{e}_{i}")
                tail.append(f"dR[{e}, {i}] = " + " + ".join(terms))
    else:
        tail += ["lb = 0.0", "dR[:] = _ZERO"]
    tail.append("return np.float64(loss), lb")
    lines = [f"def {name}(W, b, R, coef, imp, lb_coef, B, dW, db, dR, x, tie_key, step):"]
    lines += ["    " + t for t in head]
    lines.append("    for l in range(B):")
    lines += ["        " + t for t in _body(n, m, E, switch, ties)]
    lines += ["    " + t for t in tail]
    return "\n".join(lines) + "\n"


_DRIVERS = '''
def one_{name}(W, b, R, coef, imp, lb_coef, B, dW, db, dR, x, tie_key, step):
    # the variant per instance, so a run's arithmetic never depends on its batch
    if {ties} and tie_key != 0:
        return {name}_t(W, b, R, coef, imp, lb_coef, B, dW, db, dR, x, tie_key, step)
    return {name}_n(W, b, R, coef, imp, lb_coef, B, dW, db, dR, x, tie_key, step)

def steps_{name}(lo, hi, params, grads, m1, m2, state, neg_inv_p, last_scale, coef, imp,
                 scale, lb_coef, batch, adam, bc1, bc2, rec, lb, router_grad_norm, tie_keys,
                 t_first):
    W, b, R = params
    dW, db, dR = grads
    E = W.shape[1]
    lr, wd, b1, b2, eps = adam
    x = np.zeros((1, W.shape[3], (batch + {lanes} - 1) // {lanes} * {lanes}), _F)
    for i in range(lo, hi):
        for j in range(bc1.size):
            fill_sparse(state[i], neg_inv_p[i], last_scale[i], batch, x)
            r, l = one_{name}(W[i], b[i], R[i], coef[i], imp[i], lb_coef[i], batch, dW[i],
                              db[i], dR[i], x, tie_keys[i], t_first + j)
            _adamw(W[i], dW[i], m1[0][i], m2[0][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
            _adamw(b[i], db[i], m1[1][i], m2[1][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
            if E > 1:
                _adamw(R[i], dR[i], m1[2][i], m2[2][i], lr, wd, b1, b2, eps, bc1[j], bc2[j])
        rec[i] = r * scale
        lb[i] = l
        router_grad_norm[i] = np.sqrt(np.sum(dR[i] * dR[i]))


def grads_{name}(lo, hi, params, xs, imp, coef, scale, lb_coef, rec, lb, grads, tie_keys):
    W, b, R = params
    dW, db, dR = grads
    B = xs.shape[2]
    x = np.zeros((1, W.shape[3], B), _F)
    for i in range(lo, hi):
        x[0, :, :B] = xs[i]
        r, l = one_{name}(W[i], b[i], R[i], coef[i], imp[i], lb_coef[i], B, dW[i], db[i],
                          dR[i], x, tie_keys[i], 0)
        rec[i] = r * scale
        lb[i] = l
'''


@njit(inline="always")
def _fmix32(h):
    """murmur3's finaliser, as kernel._fmix32 (the same tie draws as the generic kernel)."""
    u = np.uint32
    h = u(h ^ (h >> u(16)))
    h = u(h * u(0x85EBCA6B))
    h = u(h ^ (h >> u(13)))
    h = u(h * u(0xC2B2AE35))
    return u(h ^ (h >> u(16)))


@functools.cache
def kernels(n: int, m: int, E: int, switch: bool):
    """(steps, grads) compiled for one shape: steps takes train_steps' arguments less k,
    switch and L; grads computes losses and gradients on given data xs (inst, n, B).
    Instances with a tie key (random routing ties) run their own variant of the step."""
    name = f"fused_{n}_{m}_{E}_{int(switch)}_{_DEPS}"
    ties = E > 1
    src = _source(n, m, E, switch, False, name + "_n")
    if ties:
        src += _source(n, m, E, switch, True, name + "_t")
    src += _DRIVERS.format(name=name, lanes=LANES, ties=ties)
    ns = {"__name__": __name__, "np": np, "exp": exp, "fill_sparse": fill_sparse,
          "_adamw": _adamw, "_F": np.float32, "_ZERO": np.float32(0.0),
          "_ONE": np.float32(1.0), "_U32": np.uint32,
          "_I": tuple(np.int32(e) for e in range(E)), "_fmix32": _fmix32}
    # compiled with this file as its source, so numba caches it in this folder's __pycache__
    exec(compile(src, str(_HERE / "fused.py"), "exec"), ns)  # noqa: S102 (our own text)
    # error_model="numpy": no zero-division check in the softmax, which would stop the
    # sample loop from vectorising
    for variant in ("_n", "_t") if ties else ("_n",):
        ns[name + variant] = njit(fastmath=True, error_model="numpy",
                                  cache=True)(ns[name + variant])
    ns["one_" + name] = njit(cache=True)(ns["one_" + name])
    steps = njit(nogil=True, cache=True)(ns[f"steps_{name}"])
    grads = njit(nogil=True, cache=True)(ns[f"grads_{name}"])
    return steps, grads
