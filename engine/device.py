"""Which torch device to train on."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The requested device is not available here."""


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but this machine has no CUDA GPU "
                          "(or torch is a CPU build); use --device cpu or auto")
    if choice not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device {choice!r}; use cpu, cuda or auto")
    return choice
