"""A BatchTopK sparse crosscoder over two activation spaces, batched over instances.

Shapes (inst = crosscoders trained together, L = n_latents, S = n_shared, dA/dB = the dense
and MoE widths, B = batch):
  enc_a (inst, dA, L), enc_b (inst, dB, L), b_enc (inst, L)   encoder, summed over spaces
  dec_s (inst, S, dA)      the designated shared latents' decoder: ONE tensor that both
                           spaces read, so the two decoders are tied by construction
  dec_a (inst, L−S, dA), dec_b (inst, L−S, dB), b_dec_a, b_dec_b   the others, per space
pre = a·enc_a + b·enc_b + b_enc; BatchTopK keeps, per instance, the k·B largest values of
relu(pre)·(‖d_a‖ + ‖d_b‖) over the whole batch (a latent's share of the reconstruction),
so k is the mean number of active latents per sample. Loss per instance (a mean over its
batch; instance losses are summed, so each crosscoder's gradient ignores the others):
  Σ_space ‖x − x̂‖²  +  λ Σ_l f_l w_l (‖d_a,l‖ + ‖d_b,l‖)  +  α·auxk
with w_l = shared_penalty (0.15, the authors') for designated shared latents and 1 else;
auxk (OpenAI's TopK SAE trick) asks the latents dead for dead_steps steps to reconstruct
the residual, normalised by its variance. k anneals linearly from k_start to k. Each space
is scaled to unit mean squared norm first, so relative decoder norms compare like with like.
Plain torch autograd on any device: the models are tiny, the batch carries the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .crosscoder_config import CrosscoderSettings, CrosscoderTrain
from .train import Cancelled, Progress

LOGGED = ("loss", "rec_loss", "sparsity_loss", "aux_loss", "dead", "k")
_EVAL_SEED = 999_983


@dataclass
class Encoded:
    act: torch.Tensor  # (inst, B, L) relu of the pre-activations
    f: torch.Tensor  # (inst, B, L) the kept activations
    a_hat: torch.Tensor  # (inst, B, dA)
    b_hat: torch.Tensor  # (inst, B, dB)


class Crosscoder(torch.nn.Module):
    def __init__(self, n_inst: int, widths: tuple[int, int], n_latents: int, n_shared: int,
                 seeds: list[int], device: str):
        super().__init__()
        dA, dB = widths
        if n_shared and dA != dB:
            raise ValueError(f"shared latents tie decoders across spaces of equal width; these "
                             f"are {dA} and {dB} wide: use crosscoder.n_shared = 0")
        L, S = n_latents, n_shared
        parts = [_init_one(dA, dB, L, S, seed) for seed in seeds]
        stack = lambda i: torch.nn.Parameter(torch.stack([p[i] for p in parts]).to(device))  # noqa: E731
        self.dec_s, self.dec_a, self.dec_b = stack(0), stack(1), stack(2)
        self.enc_a = torch.nn.Parameter(self.decoders()[0].detach().transpose(1, 2).clone())
        self.enc_b = torch.nn.Parameter(self.decoders()[1].detach().transpose(1, 2).clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(n_inst, L, device=device))
        self.b_dec_a = torch.nn.Parameter(torch.zeros(n_inst, dA, device=device))
        self.b_dec_b = torch.nn.Parameter(torch.zeros(n_inst, dB, device=device))
        self.n_shared = S

    def decoders(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inst, L, dA), (inst, L, dB): the shared rows first, the same tensor in both."""
        return torch.cat([self.dec_s, self.dec_a], 1), torch.cat([self.dec_s, self.dec_b], 1)

    def norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        da, db = self.decoders()
        return da.norm(dim=-1), db.norm(dim=-1)

    def encode(self, a: torch.Tensor, b: torch.Tensor, k: int) -> Encoded:
        pre = a @ self.enc_a + b @ self.enc_b + self.b_enc[:, None, :]
        act = torch.relu(pre)
        na, nb = self.norms()
        keep = batch_topk(act.detach() * (na + nb)[:, None, :], k)
        f = act * keep
        da, db = self.decoders()
        return Encoded(act, f, f @ da + self.b_dec_a[:, None, :], f @ db + self.b_dec_b[:, None, :])


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
    """Train one crosscoder per seed on source.draw(batch, generators) (one instance each)."""
    started, t0 = time.time(), time.perf_counter()
    n_inst = len(seeds)
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    eval_gens = [torch.Generator(device=device).manual_seed(int(s) + _EVAL_SEED) for s in seeds]
    with torch.no_grad():
        ev_a, ev_b = source.draw(tr.eval_samples, eval_gens)
        scale = torch.stack([_unit_scale(ev_a), _unit_scale(ev_b)], 1)  # (inst, 2)
        ev_a, ev_b = ev_a * scale[:, :1, None], ev_b * scale[:, 1:, None]
    model = Crosscoder(n_inst, source.widths, cc.n_latents, cc.n_shared, seeds, device)
    with torch.no_grad():  # the decoder bias starts at the mean activation
        model.b_dec_a.copy_(ev_a.mean(1))
        model.b_dec_b.copy_(ev_b.mean(1))
    opt = torch.optim.Adam(model.parameters(), lr=tr.lr)
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
            a, b = source.draw(tr.batch_size, gens)
            a, b = a * scale[:, :1, None], b * scale[:, 1:, None]
        enc = model.encode(a, b, k)
        rec = (a - enc.a_hat).pow(2).sum(-1).mean(1) + (b - enc.b_hat).pow(2).sum(-1).mean(1)
        na, nb = model.norms()
        sparsity = cc.sparsity_coef * (enc.f * ((na + nb) * weight)[:, None, :]).sum(-1).mean(1)
        with torch.no_grad():
            fired = (enc.f > 0).any(1)
            idle = torch.where(fired, torch.zeros_like(idle), idle + 1)
            dead = idle >= cc.dead_steps
        aux = _aux_loss(model, enc, a, b, dead, k_aux) if cc.auxk_alpha > 0 \
            else torch.zeros_like(rec)
        loss = rec + sparsity + cc.auxk_alpha * aux
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        if step % tr.log_every == 0 or step in (1, tr.steps):
            log_steps.append(step)
            for name, v in (("loss", loss), ("rec_loss", rec), ("sparsity_loss", sparsity),
                            ("aux_loss", aux), ("dead", dead.sum(1).float()),
                            ("k", torch.full_like(rec, k))):
                logs[name].append(v.detach().cpu().numpy())
        if progress is not None and (step % progress_every == 0 or step == tr.steps):
            progress(Progress(step, tr.steps, n_inst, float(loss.detach().mean())))
    final = loss.detach().cpu().numpy()
    with torch.no_grad():
        ev = _evaluate(model, ev_a, ev_b, cc.k)
        da, db = model.decoders()
        out = CrosscoderResult(
            dec_a=_np(da), dec_b=_np(db), enc_a=_np(model.enc_a), enc_b=_np(model.enc_b),
            scale=_np(scale), final_loss=final, log_steps=np.asarray(log_steps),
            log={k_: np.stack(v, 1) for k_, v in logs.items()},
            train_seconds=time.perf_counter() - t0, started_at=started,
            finished_at=time.time(), device=device, **ev)
    return out


def _evaluate(model: Crosscoder, a: torch.Tensor, b: torch.Tensor, k: int) -> dict:
    enc = model.encode(a, b, k)
    rec = (a - enc.a_hat).pow(2).sum(-1).mean(1) + (b - enc.b_hat).pow(2).sum(-1).mean(1)
    return {"density": _np((enc.f > 0).float().mean(1)),
            "fve": _np(torch.stack([fve(a, enc.a_hat), fve(b, enc.b_hat)], 1)),
            "eval_loss": _np(rec)}


def _aux_loss(model: Crosscoder, enc: Encoded, a: torch.Tensor, b: torch.Tensor,
              dead: torch.Tensor, k_aux: int) -> torch.Tensor:
    """Auxiliary-k: the top k_aux dead latents of each sample reconstruct the residual that
    the live ones left, normalised by the residual's variance; 0 where none is dead."""
    if not bool(dead.any()):
        return torch.zeros(a.shape[0], device=a.device)
    resid = torch.cat([a - enc.a_hat, b - enc.b_hat], -1).detach()
    masked = torch.where(dead[:, None, :], enc.act, torch.full_like(enc.act, -1.0))
    kk = min(k_aux, int(dead.sum(1).max()))
    vals, idx = masked.topk(kk, dim=-1)
    f_aux = torch.zeros_like(enc.act).scatter_(-1, idx, vals.clamp_min(0))
    da, db = model.decoders()
    recon = f_aux @ torch.cat([da, db], -1)
    err = (resid - recon).pow(2).sum(-1).mean(1)
    var = (resid - resid.mean(1, keepdim=True)).pow(2).sum(-1).mean(1)
    return torch.where(dead.any(1), err / var.clamp_min(1e-12), torch.zeros_like(err))


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
    own = own / own.norm(dim=-1, keepdim=True).clamp_min(1e-12) * 0.1
    return shared, own[:, :dA].contiguous(), own[:, dA:].contiguous()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
