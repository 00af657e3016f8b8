"""MoE Lens on a trained lm-family MoE (Chaudhari et al., "MoE Lens – An Expert Is All You
Need"), per held-out domain and layer, on the same held-out windows as the eval:

- routing concentration: each expert's share of the routing weight (its gates summed over
  tokens, over all gates) and of the routing decisions (route_fraction: tokens whose top-k
  holds it, over tokens·k); the top expert's and the top quarter's weight share, how many
  experts take half the decisions (n_for_half), the entropy of the weight shares (nats, and
  over log E: 1 is uniform);
- early decoding: the layer's MLP output with only its top-weighted expert (top-1 routing
  under the model's gating, the rest of the network as trained) against the full mixture:
  the mean cosine of the two MLP outputs and of the two residual streams after the layer,
  and the logit lens (final LN + unembedding of that residual) loss with either;
- expert ablation: the held-out loss with one expert of one layer never chosen (its tokens
  go to their next choice).
The perplexity with only the top expert at every layer is the eval's loss_top1 (lm_eval).
Losses are mean next-token cross-entropies in nats; perplexity = exp(loss).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .model import LM
from .trainer import _EVAL_BATCH, heldout_loss


@torch.no_grad()
def moe_lens(model: LM, heldout: dict[str, torch.Tensor], device: str) -> dict[str, dict]:
    """{"lm_lens": columns, "lm_lens_experts": columns} (no local_index yet)."""
    m = model.cfg
    lens: dict[str, list] = {}
    experts: dict[str, list] = {}
    for domain, win in heldout.items():
        per_layer = _layers(model, win, device)
        for layer, row in enumerate(per_layer):
            shares, fraction = row.pop("weight_share"), row.pop("route_fraction")
            _add(lens, {"domain": domain, "layer": layer, **row, **_concentration(shares,
                                                                                    fraction)})
            for e in range(m.n_experts):
                ablated = heldout_loss(model, win, device, ablate=(layer, e))
                _add(experts, {"domain": domain, "layer": layer, "expert": e,
                               "weight_share": float(shares[e]),
                               "route_fraction": float(fraction[e]),
                               "ablated_loss": ablated})
    return {"lm_lens": lens, "lm_lens_experts": experts}


def _layers(model: LM, win: torch.Tensor, device: str) -> list[dict]:
    m = model.cfg
    L, E = m.n_layers, m.n_experts
    weight = torch.zeros(L, E, dtype=torch.float64)
    chosen = torch.zeros(L, E, dtype=torch.float64)
    sums = {k: torch.zeros(L, dtype=torch.float64) for k in
            ("cos_mlp", "cos_hidden", "lens_loss", "lens_loss_top1")}
    n_tok = 0
    for i in range(0, len(win), _EVAL_BATCH):
        w = win[i:i + _EVAL_BATCH].to(device)
        target = w[:, 1:].reshape(-1)
        _, _, traces = model(w[:, :-1], collect=True)
        n_tok += target.numel()
        for layer, t in enumerate(traces):
            g = torch.zeros_like(t.probs).scatter_(-1, t.idx, t.gates)
            weight[layer] += g.sum(0).double().cpu()
            chosen[layer] += torch.bincount(t.idx.reshape(-1), minlength=E).double().cpu()
            top1 = model.blocks[layer].mlp(t.mlp_in, k=1)[0]
            full_h, top1_h = t.resid_mid + t.mlp_out, t.resid_mid + top1
            sums["cos_mlp"][layer] += F.cosine_similarity(top1, t.mlp_out, dim=-1).sum().item()
            sums["cos_hidden"][layer] += F.cosine_similarity(top1_h, full_h, dim=-1).sum().item()
            for key, h in (("lens_loss", full_h), ("lens_loss_top1", top1_h)):
                sums[key][layer] += F.cross_entropy(model.logits(h), target,
                                                    reduction="sum").item()
    out = []
    for layer in range(L):
        out.append({"weight_share": (weight[layer] / weight[layer].sum()).numpy(),
                    "route_fraction": (chosen[layer] / chosen[layer].sum()).numpy(),
                    **{k: float(v[layer] / n_tok) for k, v in sums.items()}})
    return out


def _concentration(shares: np.ndarray, fraction: np.ndarray) -> dict:
    E = len(shares)
    order = np.sort(shares)[::-1]
    quarter = max(1, math.ceil(E / 4))
    cum = np.cumsum(np.sort(fraction)[::-1])
    nz = shares[shares > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    return {"share_top1": float(order[0]), "share_top_quarter": float(order[:quarter].sum()),
            "n_for_half": int(np.searchsorted(cum, 0.5 - 1e-12) + 1), "entropy": entropy,
            "entropy_norm": entropy / math.log(E) if E > 1 else 0.0}


def _add(acc: dict[str, list], row: dict) -> None:
    for k, v in row.items():
        acc.setdefault(k, []).append(v)
