"""Train one small language model on its domains' token streams, deterministically.

Every random draw comes from a torch.Generator keyed by the run's seed: the init from
LM(seed) and the batches from a data generator keyed by the seed alone, so the dense and
the MoE model of one seed read the very same batches. Row r of step s's batch is a window
of context + 1 tokens from domain (s·B + r) mod n_domains at a uniform position, so every
domain gets its share. Same config and seed on the CPU (same thread count): the same bits.
A killed unit trains again from step 0 on resume, to the same weights.

At each snapshot step (step 0 and the last included) the held-out loss of every domain is
measured (for an MoE also with only the top-weighted expert at every layer) and the
weights are kept as a checkpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ...train import Cancelled, Progress
from .config import LMModel, LMTrain
from .model import LM

LOGGED = ("loss", "lb_loss", "router_grad_norm", "lr")
_DATA_SEED = 0x5EED_DA7A
_EVAL_BATCH = 32


@dataclass
class LMResult:
    model: LM
    evals: list[dict] = field(default_factory=list)  # step, domain, loss, loss_top1, tokens
    checkpoints: list[tuple[int, dict[str, np.ndarray]]] = field(default_factory=list)
    log_steps: list[int] = field(default_factory=list)
    log: dict[str, list[float]] = field(default_factory=dict)
    final_loss: float = float("nan")
    train_seconds: float = 0.0
    tokens_per_second: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    device: str = "cpu"


def windows(stream: np.ndarray, context: int, max_tokens: int) -> torch.Tensor:
    """Non-overlapping (context + 1)-token windows from the start of a held-out stream, as
    many as max_tokens predicted tokens allow (at least one)."""
    n = min(max(1, max_tokens // context), (len(stream) - 1) // context)
    idx = np.arange(n)[:, None] * context + np.arange(context + 1)[None, :]
    return torch.as_tensor(stream[idx])


@torch.no_grad()
def heldout_loss(model: LM, win: torch.Tensor, device: str, **forward) -> float:
    """Mean next-token cross-entropy (nats) over the windows."""
    total, count = 0.0, 0
    for i in range(0, len(win), _EVAL_BATCH):
        w = win[i:i + _EVAL_BATCH].to(device)
        logits, _, _ = model(w[:, :-1], **forward)
        total += float(F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(),
                                       reduction="sum"))
        count += w[:, 1:].numel()
    return total / count


@contextlib.contextmanager
def threads(device: str, elements: int):
    """One CPU thread for small models: their ops are too short to split, and on a busy
    machine a second thread spinning at every op made a step 17x slower here (0.4 s against
    0.024 s). A fixed count also keeps the floats the same from run to run."""
    before = torch.get_num_threads()
    if device == "cpu" and elements < (1 << 23):
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_lm(m: LMModel, tr: LMTrain, seed: int, train_streams: dict[str, np.ndarray],
             heldout: dict[str, torch.Tensor], device: str,
             progress: Callable | None = None, cancel: Callable | None = None,
             progress_every: int = 10) -> LMResult:
    with threads(device, tr.batch_size * m.context * max(m.d_mlp, m.d_model)):
        return _train(m, tr, seed, train_streams, heldout, device, progress, cancel,
                      progress_every)


def _train(m, tr, seed, train_streams, heldout, device, progress, cancel,
           progress_every) -> LMResult:
    started, t0 = time.time(), time.perf_counter()
    model = LM(m, seed).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=tr.lr,
                            betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(_DATA_SEED + int(seed))
    domains = list(train_streams)
    streams = [torch.as_tensor(train_streams[d]) for d in domains]
    T, B = m.context, tr.batch_size
    warmup = max(1, min(100, tr.steps // 10))
    snaps = set(tr.snapshot_steps())
    res = LMResult(model=model, log={k: [] for k in LOGGED}, started_at=started, device=device)
    _snapshot(res, model, 0, heldout, device, snaps)
    offsets = torch.arange(T + 1)
    train_time = 0.0
    for step in range(1, tr.steps + 1):
        if cancel is not None and cancel():
            raise Cancelled()
        ts = time.perf_counter()
        u = torch.rand(B, generator=gen, dtype=torch.float64)
        # row r reads domain (step-1)*B + r (round robin) from a uniform start: gathered
        # per domain at once, the rows in the same order as one at a time
        which = (torch.arange(B) + (step - 1) * B) % len(streams)
        batch = torch.empty((B, T + 1), dtype=streams[0].dtype)
        for d, s in enumerate(streams):
            rows = (which == d).nonzero().flatten()
            if len(rows):
                starts = (u[rows] * (len(s) - T)).long()  # int() of each, as before
                batch[rows] = s[starts[:, None] + offsets]
        batch = batch.to(device)
        lr = tr.lr * min(1.0, step / warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        logits, lb, _ = model(batch[:, :-1])
        ce = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        loss = ce + tr.lb_coef * lb
        opt.zero_grad(set_to_none=True)
        loss.backward()
        logged = step % tr.log_every == 0 or step in (1, tr.steps)
        router_norm = _router_grad_norm(model) if logged else 0.0  # read only when logged
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_time += time.perf_counter() - ts
        if logged:
            res.log_steps.append(step)
            for name, v in (("loss", ce.detach()), ("lb_loss", lb.detach()),
                            ("router_grad_norm", router_norm), ("lr", lr)):
                res.log[name].append(float(v))
        if progress is not None and (step % progress_every == 0 or step == tr.steps):
            progress(Progress(step, tr.steps, 1, float(ce.detach())))
        _snapshot(res, model, step, heldout, device, snaps)
    res.final_loss = float(ce.detach()) if tr.steps else float("nan")
    res.train_seconds = time.perf_counter() - t0
    res.tokens_per_second = tr.steps * B * T / max(train_time, 1e-9)
    res.finished_at = time.time()
    return res


def _router_grad_norm(model: LM) -> float:
    sq = [blk.mlp.router.grad.pow(2).sum() for blk in model.blocks
          if hasattr(blk.mlp, "router") and blk.mlp.router.grad is not None]
    return float(torch.stack(sq).sum().sqrt()) if sq else 0.0


def _snapshot(res: LMResult, model: LM, step: int, heldout: dict[str, torch.Tensor],
              device: str, snaps: set[int]) -> None:
    if step not in snaps:
        return
    model.eval()
    moe = model.cfg.n_experts > 1
    every_layer = frozenset(range(model.cfg.n_layers))
    for domain, win in heldout.items():
        res.evals.append({
            "step": step, "domain": domain, "loss": heldout_loss(model, win, device),
            "loss_top1": heldout_loss(model, win, device, top1=every_layer) if moe else None,
            "tokens": int(win[:, 1:].numel())})
    res.checkpoints.append((step, state_arrays(model)))
    model.train()


def state_arrays(model: LM) -> dict[str, np.ndarray]:
    return {name: t.detach().float().cpu().numpy().copy()
            for name, t in model.state_dict().items()}
