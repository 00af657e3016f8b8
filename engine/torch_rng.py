"""Counter-based uniforms for the torch (GPU) trainer: a number is a hash of (the run's key,
step, position), so a run's data and routing ties depend on the run alone, never on what
else shares its batch or on a generator's position (engine/cpu/rng.py is the CPU twin's
sequential version; the two trainers draw the same distribution, not the same numbers).

The hash is splitmix64's finaliser, twice: once over key + step·γ (the splitmix64 stream of
the key), once over that ^ position·γ'. Everything is int64 torch arithmetic on the device,
so it fuses into a compiled step. int64 multiply and add wrap like uint64 (two's
complement); right shifts of int64 are arithmetic, so each shift is masked back to the
logical shift. The top 24 bits make an exact float32 on [0, 1).
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15  # splitmix64's increment
_GAMMA2 = 0xD1B54A32D192ED03  # another odd constant, for the position
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def signed64(u: int) -> int:
    """A uint64 as the int64 with the same bits."""
    u = int(u) & _MASK64
    return u - (1 << 64) if u >> 63 else u


def keys_tensor(keys, device) -> torch.Tensor:
    """(inst,) int64 keys on the device from Python ints (any size, taken mod 2**64)."""
    return torch.tensor([signed64(k) for k in keys], dtype=torch.int64, device=device)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on int64 tensors (bit-identical to the uint64 one)."""
    z = (z ^ _shr(z, 30)) * signed64(_M1)
    z = (z ^ _shr(z, 27)) * signed64(_M2)
    return z ^ _shr(z, 31)


def step_keys(keys: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """(inst,) per-step keys: the key's splitmix64 stream at `step` (an int64 tensor, so a
    compiled step is not specialised on it)."""
    return mix64(keys + (step + 1) * signed64(_GAMMA))


def positions(shape: tuple[int, ...], device) -> torch.Tensor:
    """The per-position constants of a (rows, samples) draw, precomputed once: position
    s·rows + r (sample-major, so a row's numbers do not depend on how many samples a step
    draws after it)."""
    rows, samples = shape
    r = torch.arange(rows, dtype=torch.int64, device=device)[:, None]
    s = torch.arange(samples, dtype=torch.int64, device=device)[None, :]
    return (s * rows + r + 1) * signed64(_GAMMA2)


def uniforms(skeys: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(inst, rows, samples) float32 uniforms on [0, 1), 24-bit exact, from per-step keys
    (inst,) and positions (rows, samples)."""
    z = mix64(skeys[:, None, None] ^ pos[None])
    return _shr(z, 40).to(torch.float32) * (1.0 / (1 << 24))
