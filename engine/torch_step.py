"""The torch trainer's whole training step as one pure tensor function: data, routing,
forward, hand-derived backward and AdamW, so torch.compile can trace it into one graph
(CUDA graphs with mode="reduce-overhead") and no step waits on the host.

The maths is model.Kernel's (the same losses and gradients, checked against it and the
baseline's autograd in tests), written without reused buffers or out= arguments: on a GPU
the compiler plans the memory; eagerly on the CPU it is only the tests' path. Every
operation is per instance (batched matmuls, reductions over features, experts or samples
within one instance), so an instance's numbers do not depend on the others in its batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import torch_rng
from .data import draw_sparse


class StepConsts(NamedTuple):
    """What a step reads but never changes, as device tensors (None: not used)."""
    keys: torch.Tensor  # (inst,) int64 data keys
    pos: torch.Tensor  # (n, B) int64 data positions
    neg_inv_p: torch.Tensor  # (inst, n, 1) −1/p
    scale: torch.Tensor | None  # (inst, n, 1) the last feature's scale
    importance: torch.Tensor  # (inst, n)
    lb_coef: torch.Tensor  # (inst,)
    lr: torch.Tensor  # () float64: tensors, so a sweep over lr shares one compiled step
    wd: torch.Tensor  # () float64
    tie_keys: torch.Tensor | None  # (inst,) int64 routing-tie keys
    random_inst: torch.Tensor | None  # (inst,) bool: breaks ties at random
    tie_pos: torch.Tensor | None  # (E, B) int64 tie positions


def lowest_priority(E: int, device) -> torch.Tensor:
    """(1, E, 1) tie priorities that fall with the expert's number: ties go to the lowest."""
    return ((E - torch.arange(E, device=device)) / (E + 1.0))[None, :, None]


def top_k(probs: torch.Tensor, k: int, priority: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k over the expert axis of probs (inst, E, batch): values and indices (inst, k, B).
    Among exactly tied experts the one of highest priority (broadcast to probs) wins."""
    work, vals, idxs = probs, [], []
    for _ in range(k):
        best = work.amax(1, keepdim=True)
        pick = torch.where(work == best, priority, -1.0).argmax(1, keepdim=True)
        vals.append(best)
        idxs.append(pick)
        work = work.scatter(1, pick, -1.0)  # probabilities are >= 0: out of the next round
    return torch.cat(vals, 1), torch.cat(idxs, 1)


def tie_priority(E: int, tie_keys: torch.Tensor, random_inst: torch.Tensor,
                 step: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(inst, E, B) priorities: fresh uniforms keyed by (tie key, step, sample, expert) for
    the instances that break ties at random, the lowest-expert order for the others."""
    u = torch_rng.uniforms(torch_rng.step_keys(tie_keys, step), pos)
    return torch.where(random_inst[:, None, None], u, lowest_priority(E, u.device))


def forward(W, b, router, x, importance, lb_coef, k: int, gating: str, reduction: str,
            priority: torch.Tensor | None = None):
    """Losses rec, lb (inst,) and what backward needs. x is feature-major (inst, n, B)."""
    I, E, m, n = W.shape
    B = x.shape[2]
    Wf = W.reshape(I, E * m, n)
    WfT = Wf.transpose(1, 2)
    h = torch.bmm(Wf, x)  # (I, E·m, B) every expert's hidden activations
    scale = (1.0 if reduction == "sum" else 1.0 / n) / B
    c = dict(x=x, Wf=Wf, importance=importance, lb_coef=lb_coef, scale=scale, probs=None,
             k=k, gating=gating)
    if E == 1:
        z = torch.baddbmm(b.transpose(1, 2), WfT, h).relu()
        slots = [(None, h, z, None)]
        x_hat = z
    else:
        probs = torch.softmax(torch.bmm(router, x), dim=1)  # (I, E, B)
        if priority is None:
            priority = lowest_priority(E, x.device)
        topv, idx = top_k(probs, k, priority)
        experts = torch.arange(E, device=x.device)[None, :, None]
        gates = _gates(topv, k, gating)
        slots, x_hat = [], None
        bT = b.transpose(1, 2)  # (I, n, E)
        for j in range(k):
            cj = (idx[:, j:j + 1] == experts).to(x.dtype)  # (I, E, B) slot j's expert
            hm = (h.view(I, E, m, B) * cj[:, :, None, :]).view(I, E * m, B)
            y = torch.baddbmm(torch.bmm(bT, cj), WfT, hm).relu()
            g = None if gates is None else gates[:, j:j + 1]
            slots.append((cj, hm, y, g))
            term = y if g is None else y * g
            x_hat = term if x_hat is None else x_hat + term
        chosen = slots[0][0] if k == 1 else sum(s[0] for s in slots)
        c.update(probs=probs, topv=topv, idx=idx, f=chosen.mean(2))
    diff = x_hat - x
    rec = (torch.linalg.vector_norm(diff, dim=2).square() * importance).sum(1) * scale
    if E == 1:
        lb = torch.zeros_like(rec)
    else:
        lb = lb_coef * E * (c["f"] * c["probs"].mean(2)).sum(-1)
    c.update(slots=slots, diff=diff, shape=(I, E, m, n, B))
    return rec, lb, c


def _gates(topv, k: int, gating: str):
    if gating == "renorm":
        # k = 1: g_e / g_e is exactly 1, and the router gets no gradient from it
        return None if k == 1 else topv / topv.sum(1, keepdim=True)
    return topv


def backward(c) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dW, db, drouter) of Σ_i rec_i + lb_i (Kernel.backward with unit weights)."""
    I, E, m, n, B = c["shape"]
    x, Wf, diff = c["x"], c["Wf"], c["diff"]
    coef = c["importance"] * (2.0 * c["scale"])  # (I, n): dL/dx̂ = coef ⊙ diff
    Wc = Wf * coef[:, None, :]
    dWf = db = dHm = None
    dgates = []
    for cj, hm, y, g in c["slots"]:
        if g is not None:
            dgates.append(torch.bmm(coef[:, None, :], diff * y)[:, 0])  # (I, B)
            dy = diff * g
        else:
            dy = diff
        dz = torch.where(y > 0, dy, 0.0)
        dzT = dz.transpose(1, 2)
        db_j = dz.sum(2)[:, None, :] if cj is None else torch.bmm(cj, dzT)
        dW_j = torch.bmm(hm, dzT)
        dH = torch.bmm(Wc, dz)
        if cj is not None:
            dH = (dH.view(I, E, m, B) * cj[:, :, None, :]).view(I, E * m, B)
        db = db_j if db is None else db + db_j
        dWf = dW_j if dWf is None else dWf + dW_j
        dHm = dH if dHm is None else dHm + dH
    db = db * coef[:, None, :]
    dWf = torch.baddbmm(dWf * coef[:, None, :], dHm, x.transpose(1, 2))
    dW = dWf.view(I, E, m, n)
    probs = c["probs"]
    if probs is None:
        return dW, db, torch.zeros(I, E, n, device=x.device, dtype=x.dtype)
    dg = torch.zeros_like(probs)
    if dgates:
        dtop = torch.stack(dgates, 1)  # (I, k, B)
        if c["gating"] == "renorm":  # gate_j = g_j / S over the chosen
            S = c["topv"].sum(1, keepdim=True)
            gate = c["topv"] / S
            dtop = (dtop - (dtop * gate).sum(1, keepdim=True)) / S
        dg = dg.scatter_add(1, c["idx"], dtop)
    dP = (c["lb_coef"] * E / B)[:, None] * c["f"]  # (I, E)
    dg = dg + dP[:, :, None]
    dlogits = probs * (dg - (probs * dg).sum(1, keepdim=True))
    return dW, db, torch.bmm(dlogits, x.transpose(1, 2))


def train_step(flat, m, v, t, c: StepConsts, shapes, upto: int, k: int, gating: str,
               reduction: str):
    """One training step of every instance, updating the flat weights (W, b, router), AdamW's
    moments m, v and the step count t in place; returns rec, lb, router-gradient norm."""
    views, at = [], 0
    for shp in shapes:
        size = shp[0] * shp[1] * shp[2] * (shp[3] if len(shp) == 4 else 1)
        views.append(flat[at:at + size].view(shp))
        at += size
    W, b, router = views
    t.add_(1)
    x = draw_sparse(c.keys, c.pos, c.neg_inv_p, c.scale, t)
    prio = None if c.tie_keys is None else tie_priority(
        W.shape[1], c.tie_keys, c.random_inst, t, c.tie_pos)
    rec, lb, cache = forward(W, b, router, x, c.importance, c.lb_coef, k, gating, reduction,
                             prio)
    dW, db, dr = backward(cache)
    dense = W.shape[1] == 1
    gn = torch.zeros_like(rec) if dense else dr.flatten(1).norm(dim=1)
    # a dense model's router is never used: no gradient and no update (not even decay)
    grad = torch.cat([dW.flatten(), db.flatten(), dr.flatten()])[:upto]
    adamw_(flat[:upto], m[:upto], v[:upto], grad, t, c.lr, c.wd)
    return rec, lb, gn


def adamw_(p, m, v, grad, t, lr, wd, betas=(0.9, 0.999), eps: float = 1e-8):
    """torch.optim.AdamW's update in place (decoupled decay, bias-corrected moments), with the
    step count t and lr, wd () device tensors, so a compiled step never specialises on them."""
    b1, b2 = betas
    tf = t.to(torch.float64)
    step_size = (lr / (1 - b1 ** tf)).to(p.dtype)
    sqrt_bc2 = (1 - b2 ** tf).sqrt().to(p.dtype)
    p.mul_((1 - lr * wd).to(p.dtype))
    m.lerp_(grad, 1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    p.sub_(step_size * m / (v.sqrt() / sqrt_bc2 + eps))
