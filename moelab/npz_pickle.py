"""The one pickled array of the authors' .npz files (config_params, a dict in a 0-d object
array), read without running anyone's code and without letting it ask for the machine.

Only the few callables such a pickle names are found (numpy's array and dtype rebuilders,
dict, list, tuple); every other name is refused, so no code of the file's runs. The array
rebuilders allocate what the pickle asks for, so they are wrapped: each allocation is
counted against a small budget before it is made (a hostile `_reconstruct` may ask for
hundreds of GiB). What comes back is made plain (dicts, lists, str, numbers) and bounded in
depth and size, since a deeply nested value passes the unpickler (it does not recurse) and
only fails later, in json or repr.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np

BUDGET = 16 << 20  # bytes the arrays of one pickle may allocate; config_params needs ~100
MAX_DEPTH = 8  # the authors' dict holds numbers: depth 1
MAX_ITEMS = 100_000


class Refused(ValueError):
    """The pickle is not a small dict of plain values; the message says why."""


def load(data: bytes) -> Any:
    """The plain value of a pickled numpy object array; Refused in one line otherwise."""
    try:
        value = _Unpickler(data).load()
    except Refused:
        raise
    except MemoryError:
        raise Refused("it asks for more memory than the machine has") from None
    except Exception as e:  # malformed opcodes or rebuilder arguments: a bad file
        raise Refused(f"{type(e).__name__}: {str(e)[:200]}") from None
    return plain(value)


def plain(value: Any) -> Any:
    """dicts, lists, str, bool, int, float and None; Refused for anything else, deeper than
    MAX_DEPTH or larger than MAX_ITEMS."""
    count = [0]

    def walk(v: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH:
            raise Refused(f"it is nested more than {MAX_DEPTH} levels deep")
        if count[0] > MAX_ITEMS:
            raise Refused(f"it holds more than {MAX_ITEMS:,} values")
        if isinstance(v, np.ndarray):
            v = v.item() if v.ndim == 0 else list(v)  # object arrays: the objects, unwalked
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
            raise Refused("it holds a whole number too large to store")
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, (list, tuple)):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {str(walk(k, depth + 1)): walk(x, depth + 1) for k, x in v.items()}
        raise Refused(f"it holds a {type(v).__name__}, not plain data")

    return walk(value, 0)


class _Guarded(np.ndarray):
    """What the rebuilders return: an array whose __setstate__ (the pickle's BUILD, which
    sizes the array anew) is counted against the budget too."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 5:
            _spend(self._budget, state[1], state[2])
        super().__setstate__(state)


def _spend(budget: list, shape, dtype) -> None:
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise Refused(f"an array of shape {shape!r}")
    size = math.prod(shape) * np.dtype(dtype).itemsize
    budget[0] -= size
    if budget[0] < 0:
        raise Refused(f"it asks for an array of {_human(size)} (shape {shape}); "
                      f"config_params needs a few bytes")


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # unreachable


class _Unpickler(pickle.Unpickler):
    PLAIN = {("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"),
             ("numpy", "dtype")}
    CORE = ("numpy.core.multiarray", "numpy._core.multiarray")

    def __init__(self, data: bytes):
        import io
        super().__init__(io.BytesIO(data))
        self._budget = [BUDGET]

    def find_class(self, module: str, name: str):
        if (module, name) in self.PLAIN:
            return super().find_class(module, name)
        if module in self.CORE and name == "scalar":
            return _scalar
        if module in self.CORE and name == "_reconstruct":
            return self._reconstruct
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray  # only as _reconstruct's first argument, checked there
        raise Refused(f"it names {module}.{name}; only plain data is read from a data file")

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise Refused(f"it rebuilds a {getattr(subtype, '__name__', subtype)!r}")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        _spend(self._budget, shape, dtype)
        out = np.ndarray.__new__(_Guarded, shape, dtype)
        out._budget = self._budget
        return out


def _scalar(dtype, data=None):
    """numpy's scalar rebuilder; it copies `data` of the dtype's size, which the pickle
    itself holds, so it allocates no more than the file is long."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar(dtype, data) if data is not None else scalar(dtype)
