"""Reading the authors' published phase-diagram files (their repository's
phase_change_data/*.npz, one per setup "nmE"): checked whole before anything is stored.

Keys: sparsity_values (S,), importance_values (I,), grid_keys (cells, 2) as (sparsity, last
importance), final_losses (cells,), expert_weights_list (cells, E, n, m) with features as
rows, and config_params, a pickled dict (n_features, n_hidden, n_experts, n_active_experts,
steps, n_models_per_cell). config_params is the one object array: it is unpickled with
only the few numpy and builtin types such a dict needs, never arbitrary code.
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from moelab.errors import UsageError

REQUIRED = ("sparsity_values", "importance_values", "grid_keys", "final_losses",
            "expert_weights_list", "config_params")
CONFIG_KEYS = ("n_features", "n_hidden", "n_experts")


@dataclass(frozen=True)
class PhaseFile:
    path: Path
    sparsity_values: np.ndarray  # (S,)
    importance_values: np.ndarray  # (I,)
    grid_keys: np.ndarray  # (cells, 2): sparsity, last importance
    final_losses: np.ndarray  # (cells,)
    W: np.ndarray  # (cells, E, m, n): moelab's layout (the file's rows transposed)
    config: dict
    saved_at: str  # the file's save_timestamp, else its modification time (UTC)

    @property
    def setup(self) -> tuple[int, int, int]:
        _, E, m, n = self.W.shape
        return n, m, E


def read(path: str | Path) -> PhaseFile:
    """The file's arrays, or a UsageError of one line naming what is wrong."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise UsageError(f"{path} is not an .npz file ({e}); expected the authors' "
                         "phase_change_data format") from None
    with zf:
        names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
        missing = [k for k in REQUIRED if k not in names]
        if missing:
            raise UsageError(f"{path} is not a phase-diagram file of the authors' format: "
                             f"missing key{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}")
        arrays = {k: _array(zf, k, path) for k in (*REQUIRED, "save_timestamp") if k in names}
    return _checked(path, arrays)


def _checked(path: Path, a: dict) -> PhaseFile:
    cfg = a["config_params"]
    cfg = cfg.item() if isinstance(cfg, np.ndarray) and cfg.shape == () else cfg
    problems = []
    if not isinstance(cfg, dict) or any(k not in cfg for k in CONFIG_KEYS):
        problems.append(f"config_params must be a dict with {', '.join(CONFIG_KEYS)}")
        cfg = {}
    W, keys, losses = a["expert_weights_list"], a["grid_keys"], a["final_losses"]
    if W.ndim != 4:
        problems.append(f"expert_weights_list has shape {W.shape}, not (cells, E, n, m)")
    elif cfg and W.shape[1:] != (cfg["n_experts"], cfg["n_features"], cfg["n_hidden"]):
        problems.append(f"expert_weights_list has shape {W.shape} but config_params says "
                        f"E={cfg['n_experts']}, n={cfg['n_features']}, m={cfg['n_hidden']}")
    if keys.ndim != 2 or keys.shape[1] != 2:
        problems.append(f"grid_keys has shape {keys.shape}, not (cells, 2)")
    cells = {len(W), len(keys), len(losses)}
    if len(cells) > 1:
        problems.append(f"expert_weights_list, grid_keys and final_losses have "
                        f"{len(W)}, {len(keys)} and {len(losses)} cells")
    if not all(np.issubdtype(x.dtype, np.number) for x in (W, keys, losses)):
        problems.append("weights, grid keys and losses must be numbers")
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    stamp = a.get("save_timestamp")
    saved = str(stamp.item() if isinstance(stamp, np.ndarray) else stamp) if stamp is not None \
        else dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(
            tzinfo=None).isoformat()
    return PhaseFile(path, np.asarray(a["sparsity_values"], dtype=np.float64),
                     np.asarray(a["importance_values"], dtype=np.float64),
                     np.asarray(keys, dtype=np.float64), np.asarray(losses, dtype=np.float64),
                     np.swapaxes(np.asarray(W, dtype=np.float64), 2, 3), dict(cfg), saved)


def _array(zf: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    with zf.open(f"{key}.npy") as fh:
        raw = io.BytesIO(fh.read())
    try:
        version = npformat.read_magic(raw)
        header = (npformat.read_array_header_1_0 if version == (1, 0)
                  else npformat.read_array_header_2_0)
        shape, fortran, dtype = header(raw)
        if dtype.hasobject:  # pickled: only plain data may come back
            return _SafeUnpickler(raw).load()
        data = np.frombuffer(raw.read(), dtype=dtype, count=int(np.prod(shape)))
        return data.reshape(shape, order="F" if fortran else "C").copy()
    except (ValueError, pickle.UnpicklingError, EOFError) as e:
        raise UsageError(f"{path}: cannot read key {key}: {e}") from None


class _SafeUnpickler(pickle.Unpickler):
    """Numpy object arrays of dicts, strings and numbers; anything else is refused."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                            "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "dict"),
               ("builtins", "list"), ("builtins", "tuple")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
