"""A small decoder-only transformer whose MLPs are dense or a mixture of experts.

Pre-LN blocks: x += attn(LN(x)) (causal, torch's scaled_dot_product_attention), then
x += mlp(LN(x)); learned positions; the unembedding is the token embedding's transpose.
The MLP has E experts of width d_expert = d_mlp / k (E = 1: the dense MLP, its gate
identically 1, as the toy family's dense ≡ MoE with E = k = 1). Routing follows the toy
family (SPEC: Models): g = softmax(W_r x); T = top-k of g (ties to the lowest index);
gating renorm: g̃ = g / Σ_T g on T; switch: g on T (so the router learns from the LM loss
even with k = 1). Switch load balancing per MoE layer: E·Σ_e f_e·P_e, f_e = share of tokens
whose top-k holds e, P_e = mean g_e; the layers' terms are summed.

For MoE Lens the forward takes `top1` (the layers that keep only their top-weighted expert:
top-1 routing under the same gating, which is exactly the full forward when k = 1) and
`ablate` ((layer, expert): that expert is never chosen, its tokens go to their next choice),
and can hand back each layer's residual and routing (`collect`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import LMModel


@dataclass
class LayerTrace:
    """One layer seen by MoE Lens: the residual before the MLP, the MLP's input and output,
    the router's probabilities (None for a dense MLP)."""
    resid_mid: torch.Tensor  # (N, D)
    mlp_in: torch.Tensor  # (N, D) LN(resid_mid)
    mlp_out: torch.Tensor  # (N, D)
    probs: torch.Tensor | None  # (N, E)
    idx: torch.Tensor | None  # (N, k) chosen experts
    gates: torch.Tensor | None  # (N, k)


def _normal(shape, std: float, gen: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=gen) * std)


class MLP(nn.Module):
    def __init__(self, m: LMModel, n_layers: int, gen: torch.Generator):
        super().__init__()
        E, D, H = m.n_experts, m.d_model, m.d_expert
        self.E, self.k, self.gating = E, m.k, m.gating
        self.w_in = _normal((E, D, H), 0.02, gen)
        self.b_in = nn.Parameter(torch.zeros(E, H))
        self.w_out = _normal((E, H, D), 0.02 / math.sqrt(2 * n_layers), gen)
        self.b_out = nn.Parameter(torch.zeros(E, D))
        if E > 1:
            std = math.sqrt(2.0 / (E + D)) if m.router_init == "xavier" else 0.0
            self.router = _normal((E, D), std, gen)

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x @ self.w_in[e] + self.b_in[e]) @ self.w_out[e] + self.b_out[e]

    def route(self, x: torch.Tensor, k: int, ablate: int | None = None):
        """(probs (N, E), chosen idx (N, k), gates (N, k))."""
        probs = torch.softmax(x @ self.router.T, dim=-1)
        pick = probs
        if ablate is not None:
            k = min(k, self.E - 1)  # probabilities are >= 0: -1 is never among the top-k
            pick = probs.detach().clone()
            pick[:, ablate] = -1.0
        if k == 1:  # argmax takes the lowest index on ties, as the toy trainers
            idx = pick.argmax(-1, keepdim=True)
        else:
            idx = _topk_lowest(pick.detach(), k)
        top = probs.gather(-1, idx)
        gates = top / top.sum(-1, keepdim=True) if self.gating == "renorm" else top
        return probs, idx, gates

    def forward(self, x: torch.Tensor, k: int | None = None, ablate: int | None = None):
        """x (N, D) -> (out (N, D), lb term (scalar), probs, idx, gates)."""
        if self.E == 1:
            return self.expert(0, x), x.new_zeros(()), None, None, None
        k = self.k if k is None else k
        probs, idx, gates = self.route(x, k, ablate)
        N = x.shape[0]
        flat = idx.reshape(-1)
        order = torch.argsort(flat, stable=True)  # tokens grouped by expert, in token order
        token = torch.arange(N, device=x.device).repeat_interleave(k)[order]
        gate = gates.reshape(-1)[order]
        counts = torch.bincount(flat, minlength=self.E)
        out = torch.zeros_like(x)
        start = 0
        for e, n in enumerate(counts.tolist()):
            if n:
                rows = token[start:start + n]
                out = out.index_add(0, rows, self.expert(e, x[rows]) * gate[start:start + n,
                                                                            None])
            start += n
        f = counts.to(x.dtype) / N
        lb = self.E * (f * probs.mean(0)).sum()
        return out, lb, probs, idx, gates


def _topk_lowest(p: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k indices with ties to the lowest index (torch.topk leaves their order open): a
    stable descending sort keeps equal values in index order."""
    order = torch.sort(p, dim=-1, descending=True, stable=True).indices
    return order[..., :k]


class Block(nn.Module):
    def __init__(self, m: LMModel, gen: torch.Generator):
        super().__init__()
        D = m.d_model
        self.n_heads = m.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv = _normal((D, 3 * D), 0.02, gen)
        self.proj = _normal((D, D), 0.02 / math.sqrt(2 * m.n_layers), gen)
        self.mlp = MLP(m, m.n_layers, gen)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (x @ self.qkv).split(D, dim=-1)
        heads = lambda t: t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return y.transpose(1, 2).reshape(B, T, D) @ self.proj


class LM(nn.Module):
    def __init__(self, m: LMModel, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))  # every init draw from this, in order
        self.cfg = m
        self.tok = _normal((m.vocab_size, m.d_model), 0.02, gen)
        self.pos = _normal((m.context, m.d_model), 0.01, gen)
        self.blocks = nn.ModuleList(Block(m, gen) for _ in range(m.n_layers))
        self.ln_f = nn.LayerNorm(m.d_model)

    def logits(self, resid: torch.Tensor) -> torch.Tensor:
        """The unembedding of a residual stream (the logit lens: final LN, then tok^T)."""
        return self.ln_f(resid) @ self.tok.T

    def forward(self, ids: torch.Tensor, top1: frozenset[int] = frozenset(),
                ablate: tuple[int, int] | None = None, collect: bool = False):
        """ids (B, T) -> (logits (B, T, V), load-balancing sum, traces or None)."""
        B, T = ids.shape
        x = self.tok[ids] + self.pos[:T]
        lb = x.new_zeros(())
        traces = [] if collect else None
        for i, blk in enumerate(self.blocks):
            x = x + blk.attn(blk.ln1(x))
            h = blk.ln2(x).reshape(B * T, -1)
            out, term, probs, idx, gates = blk.mlp(
                h, k=1 if i in top1 else None,
                ablate=ablate[1] if ablate is not None and ablate[0] == i else None)
            if collect:
                traces.append(LayerTrace(x.reshape(B * T, -1), h, out, probs, idx, gates))
            x = x + out.view(B, T, -1)
            lb = lb + term
        return self.logits(x), lb, traces

    def n_params(self) -> tuple[int, int]:
        """(all weights, weights one token uses: k of the E experts' MLP weights)."""
        total = sum(p.numel() for p in self.parameters())
        m = self.cfg
        idle = 0
        if m.n_experts > 1:
            per_expert = 2 * m.d_model * m.d_expert + m.d_expert + m.d_model
            idle = m.n_layers * (m.n_experts - m.k) * per_expert
        return total, total - idle
