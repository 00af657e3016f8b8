"""The two activation spaces a crosscoder reads, computed from stored toy-model weights.

A source kind is a module with this interface (the toy one is this module; language models'
is engine/families/lm/crosscoder_source.py; engine/families/crosscoder.py maps a stored
run's kind to its module):
  NAME                                  the kind's name, stored in each source as "source"
  load(store, rows, cfg) -> {run_id: source}   at plan time, with the store: what a worker
                                        needs (weights, inputs), as JSON-able dicts
  problems(cfg, dense_id, moe_id, d, m) why two loaded runs of this kind cannot be diffed
  width(src), shape(src), step_cost(cfg, d, m)   widths, unit grouping, unit sizing
  build(runs, device) -> PairSource     on the worker: widths, draw(batch, gens, eval=False)
                                        -> (a, b), and truth(i): the ground truth of
                                        instance i (dense dirs, MoE dirs, MoE W) or None

Dense model: its hidden h = W x (d_hidden wide). MoE: every expert's hidden W_e x, scaled by
that expert's gate as in the forward pass (g̃_e for the paper's renormalised gating, g_e for
Switch gating; zero for experts not in the top-k) and concatenated over experts (E·d_hidden
wide). Gating the hidden is what makes it the MoE's activation: an expert not routed to
contributes nothing, and with k > 1 each expert's share is what reaches the output
(ReLU(W_eᵀ g h + g b) = g·ReLU(W_eᵀ h + b) for g > 0). docs/crosscoders.md says more.

Both spaces are fed the same inputs x, drawn from the runs' data distribution, so a
crosscoder sees the two models answer the same question. Shapes carry an instance axis:
one instance per crosscoder of a unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import scale_last

NAME = "toy"
_DATA_FIELDS = ("sparsity", "importance", "last_importance", "last_scale")


@dataclass
class ModelWeights:
    """One toy model's stored weights and routing settings (numpy, no instance axis)."""
    W: np.ndarray  # (E, m, n)
    router: np.ndarray  # (E, n)
    k: int
    gating: str  # renorm | switch

    @property
    def width(self) -> int:
        return self.W.shape[0] * self.W.shape[1]


def gated_hidden(x: torch.Tensor, W: torch.Tensor, router: torch.Tensor, k: int,
                 gating: str) -> torch.Tensor:
    """(inst, batch, E·m): each expert's W_e x times its gate, concatenated over experts.
    x (inst, batch, n), W (inst, E, m, n), router (inst, E, n)."""
    h = torch.einsum("iemn,ibn->ibem", W, x)
    E = W.shape[1]
    if E == 1:  # dense: the gate is identically 1
        return h.reshape(h.shape[0], h.shape[1], -1)
    probs = torch.softmax(torch.einsum("ien,ibn->ibe", router, x), dim=-1)
    if k == 1:  # argmax is topk's lowest-index tie rule, and much cheaper
        idx = probs.argmax(-1, keepdim=True)
        top = probs.gather(-1, idx)
    else:
        top, idx = probs.topk(k, dim=-1)  # ties to the lowest index, as the trainers
    gates = top / top.sum(-1, keepdim=True) if gating == "renorm" else top
    g = torch.zeros_like(probs).scatter_(-1, idx, gates)
    return (h * g[..., None]).reshape(h.shape[0], h.shape[1], -1)


class ToyPairSource:
    """Activations of pairs of toy models (dense, MoE) on shared inputs, one pair an
    instance: draw(batch) -> (a (inst, batch, d_dense), b (inst, batch, d_moe))."""

    def __init__(self, dense: list[ModelWeights], moe: list[ModelWeights], p: np.ndarray,
                 last_scale: np.ndarray, device: str):
        self.device = device
        t = lambda a: torch.as_tensor(np.stack(a), dtype=torch.float32, device=device)  # noqa: E731
        self.W_d, self.r_d = t([m.W for m in dense]), t([m.router for m in dense])
        self.W_m, self.r_m = t([m.W for m in moe]), t([m.router for m in moe])
        self.k_d, self.k_m = dense[0].k, moe[0].k
        self.gating_d, self.gating_m = dense[0].gating, moe[0].gating
        self.p = torch.as_tensor(p, dtype=torch.float32, device=device)
        self.last_scale = torch.as_tensor(last_scale, dtype=torch.float32, device=device)
        self._models = list(zip(dense, moe, strict=True))

    def truth(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Instance i's input features in each space (the one-hot responses) and the MoE's
        expert weights: the ground truth that recovery is measured against."""
        d, m = self._models[i]
        return (feature_directions(d.W, d.router, d.k, d.gating),
                feature_directions(m.W, m.router, m.k, m.gating), m.W)

    @property
    def widths(self) -> tuple[int, int]:
        return (self.W_d.shape[1] * self.W_d.shape[2], self.W_m.shape[1] * self.W_m.shape[2])

    def spaces(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (gated_hidden(x, self.W_d, self.r_d, self.k_d, self.gating_d),
                gated_hidden(x, self.W_m, self.r_m, self.k_m, self.gating_m))

    def draw(self, batch: int, gens: list[torch.Generator], eval: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator per instance, so a crosscoder sees the same inputs whichever others
        share its unit. x_i = u/p_i where u < p_i, else 0 (SPEC: Data). Evaluation draws
        from the same distribution (its own generators)."""
        n = self.p.shape[1]
        u = torch.stack([torch.rand(batch, n, generator=g, device=self.device) for g in gens])
        p = self.p[:, None, :]
        x = torch.where(u < p, u / p, torch.zeros((), device=self.device))
        return self.spaces(scale_last(x, self.last_scale))


def feature_directions(W: np.ndarray, router: np.ndarray, k: int, gating: str) -> np.ndarray:
    """Where input feature i lands in a model's activation space: the activation of the
    one-hot input e_i, (n, E·m). Dense: column W_i. MoE: W_iᵉ in the block of each expert e_i
    routes to, times its gate. A feature the model ignores has a ~0 vector here."""
    n = W.shape[-1]
    x = torch.eye(n)[None]
    return gated_hidden(x, torch.as_tensor(W[None], dtype=torch.float32),
                        torch.as_tensor(router[None], dtype=torch.float32), k, gating)[0].numpy()


# -- the source-kind interface (see the module's docstring) ------------------------------------

def load(store, rows: dict[int, dict], cfg) -> dict[int, dict]:
    """rows: db.reads.crosscoder.source_runs of toy runs (their weights included)."""
    out = {}
    for run_id, r in rows.items():
        model = {k: r[k] for k in ("kind", "n_features", "d_hidden", "n_experts", "k", "gating")}
        out[run_id] = {"source": NAME, "model": model,
                       "data": (r["config"] or {}).get("data", {}), "W": r["W"],
                       "router": r["router"]}
    return out


def problems(cfg, dense_id: int, moe_id: int, d: dict, m: dict) -> list[str]:
    import json
    p = [f"run {i} has no stored weights to diff" for i, s in ((dense_id, d), (moe_id, m))
         if not s["W"]]
    if cfg.source.layer is not None:
        p.append("source.layer applies to language models (lm runs); a toy model has one "
                 "hidden layer")
    if p:
        return p
    nd, nm = d["model"]["n_features"], m["model"]["n_features"]
    if nd != nm:
        p.append(f"runs {dense_id} and {moe_id} have different n_features ({nd} and {nm}); "
                 "a crosscoder diffs two models of the same input features")
    else:
        diff = [f"data.{f} {json.dumps(d['data'].get(f))} vs {json.dumps(m['data'].get(f))}"
                for f in _DATA_FIELDS if d["data"].get(f) != m["data"].get(f)]
        if diff:
            p.append(f"runs {dense_id} and {moe_id} were trained on different data "
                     f"({'; '.join(diff)}); a crosscoder needs both fed the same inputs")
    return p


def width(src: dict) -> int:
    return src["model"]["n_experts"] * src["model"]["d_hidden"]


def shape(src: dict) -> tuple:
    m = src["model"]
    return (NAME, m["n_features"], m["n_experts"], m["d_hidden"], m["k"], m["gating"])


def step_cost(cfg, d: dict, m: dict) -> float:
    """Sample-ops of one training step of one crosscoder (engine/plan.py's unit of work):
    encoder, two decoders and their gradients, plus the two toy models' forward passes."""
    w = width(d) + width(m)
    n = d["model"]["n_features"]
    return float(cfg.train.batch_size * (6 * cfg.crosscoder.n_latents * w + 2 * n * w))


def build(runs, device: str) -> ToyPairSource:
    dense = [_weights(r.dense) for r in runs]
    moe = [_weights(r.moe) for r in runs]
    n = runs[0].moe["model"]["n_features"]
    p = np.stack([np.broadcast_to(1 - np.asarray(r.moe["data"].get("sparsity", 0.9),
                                                 dtype=np.float64), (n,)) for r in runs])
    last_scale = np.array([float(r.moe["data"].get("last_scale", 1.0)) for r in runs])
    return ToyPairSource(dense, moe, p, last_scale, device)


def _weights(src: dict) -> ModelWeights:
    m = src["model"]
    W = np.asarray(src["W"], dtype=np.float32).reshape(m["n_experts"], m["d_hidden"],
                                                        m["n_features"])
    router = np.asarray(src["router"], dtype=np.float32).reshape(m["n_experts"],
                                                                  m["n_features"])
    return ModelWeights(W, router, int(m["k"]), str(m["gating"]))
