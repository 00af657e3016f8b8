"""`moelab bench`'s language-model workloads (the lm family, docs/lm.md): training tokens per
second of our trainer (engine/families/lm/trainer.py: train_lm) against a plain torch loop
of the same model (LM.forward, cross-entropy + the load-balancing term, backward,
torch.optim.AdamW) on the same batch size and context, in alternating rounds; the ratio in
the same run, and achieved GFLOP/s against this machine's fp32 matmul peak (measured by the
bench on all threads; both sides train on the thread count our trainer picks: one for
models this small, as train_lm does, so the loop itself is what is compared).

Our trainer's time is read between progress marks after a warm-up, so its held-out
evaluations (at step 0 and after the last step) stay out of it; its own extra work per step
(the batch drawn row by row from a seeded generator, the warm-up LR, the router's gradient
norm, gradient clipping) stays in. Token streams are random ids: the speed does not depend
on the text, and no corpus or tokenizer is needed.

FLOPs counted per trained token (forward, ×3 for forward + backward): per layer the
attention projections 2·4·D², the scores and the weighted sum 2·2·T·D (the full T, as
computed), the router 2·D·E and the k experts' matmuls k·2·2·D·d_expert; the unembedding
2·D·V.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LMWorkload:
    name: str
    what: str
    model: dict  # [model] fields of the lm config
    batch_size: int


FULL_SHAPE = {"n_layers": 4, "d_model": 128, "n_heads": 4, "context": 128, "d_mlp": 512,
              "vocab_size": 4096}  # lm-pair's full size
QUICK_SHAPE = {"n_layers": 1, "d_model": 32, "n_heads": 2, "context": 32, "d_mlp": 64,
               "vocab_size": 300}
LM_WORKLOADS = {
    False: [LMWorkload("L1", "lm dense, lm-pair's full shape (4 layers, d_model 128, context "
                       "128), batch 32", {**FULL_SHAPE, "n_experts": 1, "k": 1}, 32),
            LMWorkload("L2", "lm MoE E=8 k=2, lm-pair's full shape, batch 32",
                       {**FULL_SHAPE, "n_experts": 8, "k": 2}, 32)],
    True: [LMWorkload("L1", "lm dense, tiny (1 layer, d_model 32, context 32), batch 8",
                      {**QUICK_SHAPE, "n_experts": 1, "k": 1}, 8),
           LMWorkload("L2", "lm MoE E=4 k=2, tiny, batch 8",
                      {**QUICK_SHAPE, "n_experts": 4, "k": 2}, 8)],
}
# (warm-up steps, timed steps) per round, and rounds
LM_PLANS = {False: {"steps": (2, 10), "rounds": 3}, True: {"steps": (3, 20), "rounds": 2}}


def _config(w: LMWorkload, steps: int):
    from moelab.engine.families.lm.config import LMModel, LMTrain
    m = LMModel(**w.model)
    tr = LMTrain(steps=steps, batch_size=w.batch_size, snapshots=2, eval_tokens=m.context,
                 log_every=10**6)
    return m, tr


def _streams(vocab: int, context: int, n_domains: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"d{i}": rng.integers(0, vocab, 64 * context + 1).astype(np.int64)
            for i in range(n_domains)}


def flops_per_token(m) -> float:
    D, T, L = m.d_model, m.context, m.n_layers
    router = 2 * D * m.n_experts if m.n_experts > 1 else 0
    layer = 2 * 4 * D * D + 2 * 2 * T * D + router + m.k * 4 * D * m.d_expert
    return 3.0 * (L * layer + 2 * D * m.vocab_size)


def time_ours(w: LMWorkload, warm: int, timed: int) -> float:
    """Tokens per second of train_lm over `timed` steps after `warm`."""
    from moelab.engine.families.lm.trainer import train_lm, windows
    m, tr = _config(w, warm + timed)
    streams = _streams(m.vocab_size, m.context)
    held = {d: windows(s, m.context, m.context) for d, s in streams.items()}
    marks: dict[int, float] = {}
    train_lm(m, tr, 0, streams, held, "cpu",
             progress=lambda p: marks.__setitem__(p.step, time.perf_counter()),
             progress_every=warm)
    return timed * tr.batch_size * m.context / (marks[warm + timed] - marks[warm])


def time_plain(w: LMWorkload, warm: int, timed: int) -> float:
    """Tokens per second of a plain torch loop of the same model, batch, context and recipe
    (AdamW with weight decay on the matrices only, gradients clipped at norm 1, as ours)."""
    from moelab.engine.families.lm.model import LM
    from moelab.engine.families.lm.trainer import threads
    m, tr = _config(w, warm + timed)
    stream = torch.as_tensor(np.concatenate(list(_streams(m.vocab_size, m.context).values())))
    T, B = m.context, tr.batch_size
    offsets = torch.arange(T + 1)
    with threads("cpu", B * T * max(m.d_mlp, m.d_model)):  # the thread count ours uses
        torch.manual_seed(0)
        model = LM(m, 0)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=tr.lr,
                                betas=(0.9, 0.95))
        for step in range(warm + timed):
            if step == warm:
                t = time.perf_counter()
            batch = stream[torch.randint(0, len(stream) - T - 1, (B, 1)) + offsets]
            logits, lb, _ = model(batch[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten()) \
                + tr.lb_coef * lb
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return timed * B * T / (time.perf_counter() - t)


@dataclass
class LMRow:
    name: str
    ours: float  # tokens / s
    plain: float
    flops: float  # per token

    @property
    def ratio(self) -> float:
        return self.ours / self.plain

    def line(self, peak: float) -> str:
        g, gp = self.ours * self.flops / 1e9, self.plain * self.flops / 1e9
        return (f"{self.name}  moelab {self.ours:10.0f} tokens/s   plain torch loop "
                f"{self.plain:9.0f} tokens/s   {self.ratio:.2f}x   {g:.2f} GFLOP/s (plain "
                f"{gp:.2f}) = {100 * g / peak:.1f} % of {peak:.0f} peak fp32")


def bench_lm(quick: bool, peak: float, workloads=None, plan=None, out=print) -> list[LMRow]:
    workloads = workloads if workloads is not None else LM_WORKLOADS[quick]
    plan = plan or LM_PLANS[quick]
    from moelab.engine.families.lm.config import LMModel
    out("plain torch loop = LM.forward, cross-entropy + lb term, backward, clipping, torch "
        "AdamW (decay on matrices): our recipe on the same model, batch and context, on the "
        "thread count our trainer picks")
    rows = []
    for w in workloads:
        warm, timed = plan["steps"]
        ours, plain = [], []
        for _ in range(plan["rounds"]):  # alternating, so load changes hit both sides
            ours.append(time_ours(w, warm, timed))
            plain.append(time_plain(w, warm, timed))
        row = LMRow(w.name, statistics.median(ours), statistics.median(plain),
                    flops_per_token(LMModel(**w.model)))
        rows.append(row)
        out(row.line(peak))
    return rows


def table(peak: float, rows: list[LMRow], workloads) -> str:
    what = {w.name: w.what for w in workloads}
    lines = ["| workload | moelab tokens/s | plain loop tokens/s | ratio | moelab GFLOP/s | "
             "% of peak | peak GFLOP/s |", "|" + "---|" * 7]
    for r in rows:
        g = r.ours * r.flops / 1e9
        lines.append(f"| {r.name} {what.get(r.name, '')} | {r.ours:.0f} | {r.plain:.0f} | "
                     f"{r.ratio:.2f}x | {g:.2f} | {100 * g / peak:.1f} % | {peak:.0f} |")
    return "\n".join(lines)
