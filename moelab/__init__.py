"""moelab: a lab for superposition in dense and mixture-of-experts toy models.

`lab = moelab.open("lab.duckdb")` is the Python API (moelab/lab.py, docs/api.md). Names load
on first use, so `import moelab` stays light: no torch, no textual, no duckdb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Lab", "Weights", "open"]


def __getattr__(name: str):
    if name in __all__:
        from . import lab
        value = getattr(lab, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'moelab' has no attribute {name!r}")


if TYPE_CHECKING:
    from .lab import Lab, Weights, open  # noqa: A004
