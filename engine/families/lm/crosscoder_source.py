"""Language models as a crosscoder source (the interface: engine/crosscoder_sources.py).

What the crosscoder reads: the residual stream after block `source.layer` (0-based; by
default the middle block, (n_layers - 1) // 2) of a stored dense and a stored MoE lm run of
one experiment, on the same held-out tokens: the experiment's held-out text (units.prepare
with the experiment's stored tokenizer, so the very tokens the models' evaluation saw),
cut into context-long windows from the start of each domain's stream, up to
`source.tokens` tokens shared evenly over the domains. Both models read the same windows,
so row j of the dense space and row j of the MoE space are one token in one context.

At plan time (with the store) each source carries the model's final checkpoint
(lm_checkpoints) and the token windows; a worker rebuilds the model and computes the
residuals without opening the database. Every fifth window is kept for evaluation (FVE,
densities, dead latents); training samples tokens from the others, with replacement. There
is no ground truth for a language model: truth() is None, so no recovery is stored.
"""

from __future__ import annotations

import base64
import json

import numpy as np

NAME = "lm"
_EVAL_EVERY = 5  # every fifth window is evaluation text


def default_layer(n_layers: int) -> int:
    return (int(n_layers) - 1) // 2


# -- at plan time ------------------------------------------------------------------------------

def load(store, rows: dict[int, dict], cfg) -> dict[int, dict]:
    from moelab.db.reads.lm import experiment_tokenizer, lm_checkpoint

    from .config import from_dict
    from .units import prepare
    out: dict[int, dict] = {}
    tokens: dict[tuple, tuple] = {}
    for run_id, r in rows.items():
        raw = r["config"] or {}
        lm_cfg = from_dict(raw)
        m = lm_cfg.model
        eid = int(r["experiment_id"])
        key = (eid, m.context)
        if key not in tokens:
            prep = prepare(lm_cfg, experiment_tokenizer(store, eid))
            tokens[key] = _windows(prep.heldout, m.context, cfg.source.tokens)
        ids, domains = tokens[key]
        ckpt = lm_checkpoint(store, run_id)
        state = {name: [t["shape"], _pack(np.asarray(t["data"], dtype=np.float32))]
                 for name, t in ckpt.get("tensors", {}).items()}
        layer = cfg.source.layer if cfg.source.layer is not None else default_layer(m.n_layers)
        out[run_id] = {
            "source": NAME, "experiment": eid, "layer": int(layer), "step": ckpt.get("step"),
            "model": {"kind": m.kind, "n_features": None, "n_layers": m.n_layers,
                      "d_model": m.d_model, "context": m.context, "n_experts": m.n_experts,
                      "k": m.k, "d_hidden": m.d_expert, "gating": m.gating,
                      "lm": json.loads(json.dumps(raw["model"]))},
            "state": state, "tokens": _pack_ids(ids), "windows": int(len(ids)),
            "domains": domains}
    return out


def _windows(heldout: dict, context: int, budget: int) -> tuple[np.ndarray, list]:
    """(windows (n, context) of token ids, [(domain, n windows)]): from the start of each
    domain's held-out stream, budget // n_domains tokens each (one window at least)."""
    parts, domains = [], []
    per = max(context, budget // max(1, len(heldout)))
    for name in sorted(heldout):
        stream = np.asarray(heldout[name])
        n = min(per // context, len(stream) // context)
        if n:
            parts.append(stream[:n * context].reshape(n, context))
            domains.append([name, int(n)])
    return (np.concatenate(parts) if parts else np.zeros((0, context), np.int64)), domains


def problems(cfg, dense_id: int, moe_id: int, d: dict, m: dict) -> list[str]:
    p = [f"run {i} has no stored checkpoint to diff" for i, s in ((dense_id, d), (moe_id, m))
         if not s["state"]]
    for i, s in ((dense_id, d), (moe_id, m)):
        n = s["model"]["n_layers"]
        if not 0 <= s["layer"] < n:
            p.append(f"source.layer = {s['layer']} is out of range: run {i} has {n} layers "
                     f"(0 to {n - 1})")
    if p:
        return p
    if d["experiment"] != m["experiment"]:
        p.append(f"runs {dense_id} and {moe_id} are language models of different experiments "
                 f"({d['experiment']} and {m['experiment']}): other tokenizers and text; "
                 "diff a pair of one experiment")
    elif d["model"]["context"] != m["model"]["context"]:
        p.append(f"runs {dense_id} and {moe_id} have different contexts "
                 f"({d['model']['context']} and {m['model']['context']}); a crosscoder reads "
                 "both on the same windows")
    elif d["layer"] != m["layer"]:
        p.append(f"runs {dense_id} and {moe_id} have different depths; give source.layer")
    if not p and d["windows"] < 1:
        p.append(f"the held-out text of experiment {d['experiment']} has no "
                 f"{d['model']['context']}-token window")
    return p


def width(src: dict) -> int:
    return int(src["model"]["d_model"])


def shape(src: dict) -> tuple:
    m = src["model"]
    return (NAME, src["experiment"], m["d_model"], m["n_layers"], m["context"],
            m["n_experts"], m["k"], src["layer"])


def step_cost(cfg, d: dict, m: dict) -> float:
    """Sample-ops of one training step (encoder, two decoders and their gradients); the
    models' forward passes run once per unit, not per step."""
    return float(cfg.train.batch_size * 6 * cfg.crosscoder.n_latents * (width(d) + width(m)))


# -- on the worker -----------------------------------------------------------------------------

def build(runs, device: str) -> LMPairSource:
    pools: dict[int, tuple] = {}
    for r in runs:
        for run_id, src in ((r.dense_run, r.dense), (r.moe_run, r.moe)):
            if run_id not in pools:
                pools[run_id] = residual_pool(src, device)
    return LMPairSource([(pools[r.dense_run], pools[r.moe_run]) for r in runs], device)


def residual_pool(src: dict, device: str):
    """(training rows, evaluation rows) of the residual after src's layer, (tokens, d_model)."""
    import torch

    from .trainer import threads
    ids = torch.as_tensor(_unpack_ids(src["tokens"]).reshape(src["windows"], -1))
    model = model_from_state(src["model"]["lm"], src["state"]).to(device)
    with threads(device, ids.numel() * src["model"]["d_model"]):
        resid = residuals(model, ids, src["layer"], device)
    which = np.arange(len(ids)) % _EVAL_EVERY == _EVAL_EVERY - 1
    if which.all() or not which.any():  # too few windows to split: both read all of them
        return resid.flatten(0, 1), resid.flatten(0, 1)
    keep = torch.as_tensor(which, device=resid.device)
    return resid[~keep].flatten(0, 1), resid[keep].flatten(0, 1)


def model_from_state(model: dict, state: dict):
    """An LM with a stored checkpoint's weights (the init's draws are overwritten)."""
    import torch

    from .config import LMModel
    from .model import LM
    lm = LM(LMModel(**model), seed=0)
    lm.load_state_dict({name: torch.as_tensor(_unpack(b64).reshape(shape))
                        for name, (shape, b64) in state.items()})
    return lm.eval()


def residuals(model, ids, layer: int, device: str, batch: int = 32):
    """The residual stream after block `layer` for every token of the windows ids (n, T):
    (n, T, d_model), computed in batches of windows, without gradients."""
    import torch
    out = []
    with torch.no_grad():
        for i in range(0, len(ids), batch):
            _, _, traces = model(ids[i:i + batch].to(device), collect=True)
            t = traces[layer]
            out.append((t.resid_mid + t.mlp_out).view(len(ids[i:i + batch]), ids.shape[1], -1))
    return torch.cat(out).float()


class LMPairSource:
    """Residuals of pairs of language models on the same tokens, one pair an instance:
    draw(batch, gens, eval) samples token rows (with replacement) of each instance's pool."""

    def __init__(self, pools: list, device: str):
        self.device = device
        self.pools = pools  # [((train a, eval a), (train b, eval b))]
        self.widths = (pools[0][0][0].shape[1], pools[0][1][0].shape[1])

    def draw(self, batch: int, gens: list, eval: bool = False):
        import torch
        part = 1 if eval else 0
        a, b = [], []
        for (pa, pb), g in zip(self.pools, gens, strict=True):
            rows = pa[part].shape[0]
            idx = torch.randint(rows, (batch,), generator=g, device=g.device)
            idx = idx.to(pa[part].device)
            a.append(pa[part][idx])
            b.append(pb[part][idx])
        return torch.stack(a), torch.stack(b)

    def truth(self, i: int) -> None:
        return None  # nobody knows a language model's features


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").copy()


def _pack_ids(ids: np.ndarray) -> str:
    from .tokenizer import pack
    return pack(np.asarray(ids).reshape(-1))


def _unpack_ids(text: str) -> np.ndarray:
    from .tokenizer import unpack
    return unpack(text)
