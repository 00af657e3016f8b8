"""A BatchTopK sparse crosscoder over two activation spaces, batched over instances.

Shapes (inst = crosscoders trained together, L = n_latents, S = n_shared, dA/dB = the dense
and MoE widths, B = batch; the two spaces side by side, x = [a | b]):
  enc (inst, dA + dB, L), b_enc (inst, L)   the encoder, so pre = a·enc_a + b·enc_b + b_enc
                                            is summed over the spaces
  dec_s (inst, S, dA)   the designated shared latents' decoder: ONE tensor that both halves
                        of the decoder read, so their two decoders are tied by construction
  dec_own (inst, L − S, dA + dB), b_dec (inst, dA + dB)   the other latents, per space
BatchTopK keeps, per instance, the k·B largest values of
relu(pre)·(‖d_a‖ + ‖d_b‖) over the whole batch (a latent's share of the reconstruction),
so k is the mean number of active latents per sample. Loss per instance (a mean over its
batch; instance losses are summed, so each crosscoder's gradient ignores the others):
  Σ_space ‖x − x̂‖²  +  λ Σ_l f_l w_l (‖d_a,l‖ + ‖d_b,l‖)  +  α·auxk
with w_l = shared_penalty (0.15, the authors') for designated shared latents and 1 else;
auxk (OpenAI's TopK SAE trick) asks the latents idle for dead_steps steps (logged as
idle_latents) to reconstruct the residual, normalised by its variance. k anneals linearly
from k_start to k. Each space is scaled to unit mean squared norm first, so relative decoder
norms compare like with like.
Plain torch autograd on any device: the models are tiny, the batch carries the work.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .crosscoder_config import CrosscoderSettings, CrosscoderTrain
from .train import Cancelled, Progress

# idle_latents: latents not fired in the last dead_steps training steps (the ones auxk
# trains). Not the dead latents: a latent is dead when it fires on none of the evaluation
# inputs (crosscoder_metrics.latent_classes; stored as crosscoders.dead_latents).
LOGGED = ("loss", "rec_loss", "sparsity_loss", "aux_loss", "idle_latents", "k")
_EVAL_SEED = 999_983


@dataclass
class Encoded:
    act: torch.Tensor  # (inst, B, L) relu of the pre-activations
    f: torch.Tensor  # (inst, B, L) the kept activations
    x_hat: torch.Tensor  # (inst, B, dA + dB) both reconstructions side by side


class Crosscoder(torch.nn.Module):
    """The two spaces side by side, x = [a | b], so each step is one encoder and one decoder
    matmul (at toy sizes the op count, not the arithmetic, sets the pace)."""

    def __init__(self, n_inst: int, widths: tuple[int, int], n_latents: int, n_shared: int,
                 seeds: list[int], device: str):
        super().__init__()
        dA, dB = widths
        if n_shared and dA != dB:
            raise ValueError(f"shared latents tie decoders across spaces of equal width; these "
                             f"are {dA} and {dB} wide: use crosscoder.n_shared = 0")
        parts = [_init_one(dA, dB, n_latents, n_shared, seed) for seed in seeds]
        self.dA, self.n_shared = dA, n_shared
        self.dec_s = torch.nn.Parameter(torch.stack([p[0] for p in parts]).to(device))
        self.dec_own = torch.nn.Parameter(torch.stack([p[1] for p in parts]).to(device))
        self.enc = torch.nn.Parameter(self.decoder().detach().transpose(1, 2).clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(n_inst, n_latents, device=device))
        self.b_dec = torch.nn.Parameter(torch.zeros(n_inst, dA + dB, device=device))

    def decoder(self) -> torch.Tensor:
        """(inst, L, dA + dB): the shared rows first, their one vector in both halves."""
        return torch.cat([torch.cat([self.dec_s, self.dec_s], -1), self.dec_own], 1)

    def norms(self, D: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        D = self.decoder() if D is None else D
        return D[..., :self.dA].norm(dim=-1), D[..., self.dA:].norm(dim=-1)

    def encode(self, x: torch.Tensor, k: int) -> Encoded:
        D = self.decoder()
        act = torch.relu(x @ self.enc + self.b_enc[:, None, :])
        na, nb = self.norms(D)
        f = act * batch_topk(act.detach() * (na + nb)[:, None, :], k)
        return Encoded(act, f, f @ D + self.b_dec[:, None, :])


def batch_topk(score: torch.Tensor, k: int) -> torch.Tensor:
    """1.0 at the k·B largest scores of each instance over its whole batch (inst, B, L)."""
    n_inst, B, L = score.shape
    flat = score.reshape(n_inst, B * L)
    idx = flat.topk(min(k * B, B * L), dim=-1, sorted=False).indices
    return torch.zeros_like(flat).scatter_(-1, idx, 1.0).reshape(n_inst, B, L)


def annealed_k(step: int, steps: int, cc: CrosscoderSettings) -> int:
    """k at a step (1-based): linear from k_start down to k over anneal_frac of the steps."""
    span = cc.anneal_frac * steps
    if span <= 0 or step >= span:
        return cc.k
    return int(round(cc.k_first + (cc.k - cc.k_first) * (step - 1) / span))


def fve(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance explained per instance: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² (inst,)."""
    sse = (x - x_hat).pow(2).sum((1, 2))
    sst = (x - x.mean(1, keepdim=True)).pow(2).sum((1, 2))
    return 1 - sse / sst.clamp_min(1e-12)


@dataclass
class CrosscoderResult:
    dec_a: np.ndarray  # (inst, L, dA) decoders in the scaled spaces
    dec_b: np.ndarray  # (inst, L, dB)
    enc_a: np.ndarray  # (inst, dA, L)
    enc_b: np.ndarray  # (inst, dB, L)
    scale: np.ndarray  # (inst, 2) the factor each space was multiplied by
    density: np.ndarray  # (inst, L) share of evaluation samples on which a latent fires
    fve: np.ndarray  # (inst, 2) variance explained per space on the evaluation batch
    eval_loss: np.ndarray  # (inst,) reconstruction loss on the evaluation batch
    final_loss: np.ndarray  # (inst,) loss of the last training batch
    log_steps: np.ndarray  # (n_logs,)
    log: dict[str, np.ndarray]  # name -> (inst, n_logs)
    train_seconds: float
    started_at: float
    finished_at: float
    device: str


def train_crosscoders(source, cc: CrosscoderSettings, tr: CrosscoderTrain, seeds: list[int],
                      device: str, progress: Callable[[Progress], None] | None = None,
                      cancel: Callable[[], bool] | None = None,
                      progress_every: int = 50) -> CrosscoderResult:
    """Train one crosscoder per seed on source.draw(batch, generators) (one instance each);
    evaluation reads source.draw(eval_samples, generators, eval=True)."""
    with _threads(device, len(seeds) * tr.batch_size * cc.n_latents):
        return _train(source, cc, tr, seeds, device, progress, cancel, progress_every)


@contextlib.contextmanager
def _threads(device: str, elements: int):
    """One CPU thread for small problems: at toy sizes the ops are too short to split, and
    on a busy machine a second thread spinning at every op made training 4x slower here."""
    before = torch.get_num_threads()
    if device == "cpu" and elements < (1 << 22):
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(source, cc, tr, seeds, device, progress, cancel, progress_every) -> CrosscoderResult:
    started, t0 = time.time(), time.perf_counter()
    n_inst = len(seeds)
    dA = source.widths[0]
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    eval_gens = [torch.Generator(device=device).manual_seed(int(s) + _EVAL_SEED) for s in seeds]
    with torch.no_grad():
        a, b = source.draw(tr.eval_samples, eval_gens, eval=True)
        scale = torch.stack([_unit_scale(a), _unit_scale(b)], 1)  # (inst, 2)
        ev = _joined(a, b, scale)
    model = Crosscoder(n_inst, source.widths, cc.n_latents, cc.n_shared, seeds, device)
    with torch.no_grad():  # the decoder bias starts at the mean activation
        model.b_dec.copy_(ev.mean(1))
    opt = torch.optim.Adam(model.parameters(), lr=tr.lr, fused=True)
    weight = torch.ones(cc.n_latents, device=device)
    weight[:cc.n_shared] = cc.shared_penalty
    idle = torch.zeros(n_inst, cc.n_latents, device=device)  # steps since a latent fired
    k_aux = max(1, sum(source.widths) // 2)
    logs: dict[str, list] = {name: [] for name in LOGGED}
    log_steps = []
    for step in range(1, tr.steps + 1):
        if cancel is not None and cancel():
            raise Cancelled()
        k = annealed_k(step, tr.steps, cc)
        with torch.no_grad():
            x = _joined(*source.draw(tr.batch_size, gens), scale)
        enc = model.encode(x, k)
        rec = (x - enc.x_hat).pow(2).sum(-1).mean(1)
        na, nb = model.norms()
        sparsity = cc.sparsity_coef * (enc.f * ((na + nb) * weight)[:, None, :]).sum(-1).mean(1)
        with torch.no_grad():
            idle = torch.where(enc.f.amax(1) > 0, torch.zeros_like(idle), idle + 1)
            stale = idle >= cc.dead_steps  # auxk's latents (idle_latents), not "dead"
        aux = _aux_loss(model, enc, x, stale, k_aux) if cc.auxk_alpha > 0 \
            else torch.zeros_like(rec)
        loss = rec + sparsity + cc.auxk_alpha * aux
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        if step % tr.log_every == 0 or step in (1, tr.steps):
            log_steps.append(step)
            for name, v in (("loss", loss), ("rec_loss", rec), ("sparsity_loss", sparsity),
                            ("aux_loss", aux), ("idle_latents", stale.sum(1).float()),
                            ("k", torch.full_like(rec, k))):
                logs[name].append(v.detach().cpu().numpy())
        if progress is not None and (step % progress_every == 0 or step == tr.steps):
            progress(Progress(step, tr.steps, n_inst, float(loss.detach().mean())))
    final = loss.detach().cpu().numpy()
    with torch.no_grad():
        D = model.decoder()
        return CrosscoderResult(
            dec_a=_np(D[..., :dA]), dec_b=_np(D[..., dA:]), enc_a=_np(model.enc[:, :dA]),
            enc_b=_np(model.enc[:, dA:]), scale=_np(scale), final_loss=final,
            log_steps=np.asarray(log_steps), log={k_: np.stack(v, 1) for k_, v in logs.items()},
            train_seconds=time.perf_counter() - t0, started_at=started,
            finished_at=time.time(), device=device, **_evaluate(model, ev, cc.k))


def _joined(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[a | b], each space scaled to unit mean squared norm."""
    return torch.cat([a * scale[:, :1, None], b * scale[:, 1:, None]], -1)


def _evaluate(model: Crosscoder, x: torch.Tensor, k: int) -> dict:
    enc = model.encode(x, k)
    dA = model.dA
    return {"density": _np((enc.f > 0).float().mean(1)),
            "fve": _np(torch.stack([fve(x[..., :dA], enc.x_hat[..., :dA]),
                                    fve(x[..., dA:], enc.x_hat[..., dA:])], 1)),
            "eval_loss": _np((x - enc.x_hat).pow(2).sum(-1).mean(1))}


def _aux_loss(model: Crosscoder, enc: Encoded, x: torch.Tensor, idle: torch.Tensor,
              k_aux: int) -> torch.Tensor:
    """Auxiliary-k: the top k_aux idle latents of each sample reconstruct the residual that
    the active ones left, normalised by the residual's variance; 0 where none is idle."""
    if not bool(idle.any()):
        return torch.zeros(x.shape[0], device=x.device)
    resid = (x - enc.x_hat).detach()
    masked = torch.where(idle[:, None, :], enc.act, torch.full_like(enc.act, -1.0))
    kk = min(k_aux, int(idle.sum(1).max()))
    vals, idx = masked.topk(kk, dim=-1)
    f_aux = torch.zeros_like(enc.act).scatter_(-1, idx, vals.clamp_min(0))
    err = (resid - f_aux @ model.decoder()).pow(2).sum(-1).mean(1)
    var = (resid - resid.mean(1, keepdim=True)).pow(2).sum(-1).mean(1)
    return torch.where(idle.any(1), err / var.clamp_min(1e-12), torch.zeros_like(err))


def _unit_scale(x: torch.Tensor) -> torch.Tensor:
    """Per instance, the factor that gives x a mean squared norm of 1 (1 for an all-zero x)."""
    ms = x.pow(2).sum(-1).mean(1)
    return torch.where(ms > 0, ms.clamp_min(1e-30).rsqrt(), torch.ones_like(ms))


def _init_one(dA: int, dB: int, L: int, S: int, seed: int) -> tuple[torch.Tensor, ...]:
    """One crosscoder's decoder: random directions, each latent's joint norm 0.1 at first
    (small, so early reconstructions do not blow up); the encoder starts as its transpose."""
    g = torch.Generator().manual_seed(int(seed) * 2 + 1)
    shared = torch.randn(S, dA, generator=g)
    shared = shared / shared.norm(dim=-1, keepdim=True).clamp_min(1e-12) * 0.1 / np.sqrt(2)
    own = torch.randn(L - S, dA + dB, generator=g)
    return shared, own / own.norm(dim=-1, keepdim=True).clamp_min(1e-12) * 0.1


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
