"""Reading the authors' published phase-diagram files (their repository's
phase_change_data/*.npz, one per setup "nmE"): checked whole before anything is stored.

Keys: sparsity_values (S,), importance_values (I,), grid_keys (cells, 2) as (sparsity, last
importance), final_losses (cells,), expert_weights_list (cells, E, n, m) with features as
rows, and config_params, a pickled dict (n_features, n_hidden, n_experts, n_active_experts,
steps, n_models_per_cell). config_params is the one object array: it is unpickled with
only the few numpy and builtin types such a dict needs, never arbitrary code, and within a
small memory budget (moelab/npz_pickle.py); every other key must hold numbers (as
np.load(allow_pickle=False) would insist). Sizes are checked before anything is read: the
zip members' declared sizes against MAX_FILE_BYTES (a zip bomb is refused unread), each
array's header (shape x itemsize) against the bytes its member holds.
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from moelab.errors import UsageError

REQUIRED = ("sparsity_values", "importance_values", "grid_keys", "final_losses",
            "expert_weights_list", "config_params")
CONFIG_KEYS = ("n_features", "n_hidden", "n_experts")
# Decompressed bytes read from one file, all its arrays together. The authors' files are a
# few MB (a 39 x 58 grid of small models); a zip bomb declares gigabytes.
MAX_FILE_BYTES = 256 << 20
MAX_CONFIG_BYTES = 1 << 20  # config_params: a pickled dict of a few numbers
NUMBERS = "biuf"  # numpy kinds: bool, signed, unsigned, float


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
    if path.exists() and not path.is_file():  # a FIFO would block the read
        raise UsageError(f"{path} is not a regular file; give an .npz file")
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise UsageError(f"{path} is not an .npz file ({e}); expected the authors' "
                         "phase_change_data format") from None
    with zf:
        members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        missing = [k for k in REQUIRED if k not in members]
        if missing:
            raise UsageError(f"{path} is not a phase-diagram file of the authors' format: "
                             f"missing key{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}")
        wanted = [k for k in (*REQUIRED, "save_timestamp") if k in members]
        total = sum(members[k].file_size for k in wanted)  # as declared: nothing read yet
        if total > MAX_FILE_BYTES:
            raise UsageError(f"{path}: its arrays would take {_human(total)} decompressed, "
                             f"more than the {_human(MAX_FILE_BYTES)} moelab reads from one "
                             "file (the authors' files are a few MB)")
        try:
            arrays = {k: _array(zf, members[k], k, path) for k in wanted}
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
                OSError) as e:  # a bad CRC, an unknown compression, an encrypted member
            raise UsageError(f"{path}: a damaged or unsupported .npz ({e})") from None
    return _checked(path, arrays)


def _checked(path: Path, a: dict) -> PhaseFile:
    cfg = a["config_params"]
    problems = []
    if not isinstance(cfg, dict) or any(k not in cfg for k in CONFIG_KEYS):
        problems.append(f"config_params must be a dict with {', '.join(CONFIG_KEYS)}")
        cfg = {}
    elif bad := [k for k in (*CONFIG_KEYS, "n_active_experts", "steps", "n_models_per_cell")
                 if k in cfg and not _count(cfg[k], none_ok=k not in CONFIG_KEYS)]:
        problems.append(f"config_params {', '.join(bad)} must be whole numbers")
        cfg = {}
    W, keys, losses = a["expert_weights_list"], a["grid_keys"], a["final_losses"]
    for k in ("sparsity_values", "importance_values"):
        if a[k].ndim != 1:
            problems.append(f"{k} has shape {a[k].shape}, not (values,)")
    if losses.ndim != 1:
        problems.append(f"final_losses has shape {losses.shape}, not (cells,)")
    if W.ndim != 4:
        problems.append(f"expert_weights_list has shape {W.shape}, not (cells, E, n, m)")
    elif cfg and W.shape[1:] != (cfg["n_experts"], cfg["n_features"], cfg["n_hidden"]):
        problems.append(f"expert_weights_list has shape {W.shape} but config_params says "
                        f"E={cfg['n_experts']}, n={cfg['n_features']}, m={cfg['n_hidden']}")
    if keys.ndim != 2 or keys.shape[1] != 2:
        problems.append(f"grid_keys has shape {keys.shape}, not (cells, 2)")
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    cells = {len(W), len(keys), len(losses)}
    if len(cells) > 1:
        problems.append(f"expert_weights_list, grid_keys and final_losses have "
                        f"{len(W)}, {len(keys)} and {len(losses)} cells")
    elif cells == {0}:
        problems.append("it holds no cells (expert_weights_list has shape "
                        f"{W.shape}); nothing to import")
    elif 0 in W.shape[1:]:
        problems.append(f"expert_weights_list has shape {W.shape}: no experts, features or "
                        "dimensions")
    k = cfg.get("n_active_experts")
    if cfg and k is not None and not 1 <= k <= cfg["n_experts"]:
        problems.append(f"config_params n_active_experts = {k} is not between 1 and "
                        f"n_experts = {cfg['n_experts']}")
    if problems:
        raise UsageError(f"{path}: " + "; ".join(problems))
    stamp = a.get("save_timestamp")
    saved = str(stamp.item() if stamp.size == 1 else stamp)[:64] if stamp is not None \
        else dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(
            tzinfo=None).isoformat()
    return PhaseFile(path, np.asarray(a["sparsity_values"], dtype=np.float64),
                     np.asarray(a["importance_values"], dtype=np.float64),
                     np.asarray(keys, dtype=np.float64), np.asarray(losses, dtype=np.float64),
                     np.swapaxes(np.asarray(W, dtype=np.float64), 2, 3), dict(cfg), saved)


def _count(v, none_ok: bool) -> bool:
    return (v is None and none_ok) or (isinstance(v, int) and not isinstance(v, bool)
                                       and 0 <= v < 2**31)


def _human(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, path: Path):
    """The array of one member, its header checked before its data is read: numbers for
    every key but config_params (plain data, moelab/npz_pickle.py) and save_timestamp."""
    from moelab import npz_pickle

    def bad(why: str) -> UsageError:
        return UsageError(f"{path}: cannot read key {key}: {why}")

    with zf.open(info) as fh:
        try:
            version = npformat.read_magic(fh)
            header = {(1, 0): npformat.read_array_header_1_0,
                      (2, 0): npformat.read_array_header_2_0}.get(version)
            if header is None:
                raise bad(f".npy format version {version} is not supported")
            shape, fortran, dtype = header(fh)
        except ValueError as e:
            raise bad(str(e)) from None
        if key == "config_params":
            if not dtype.hasobject:
                raise bad(f"it holds {dtype} values, not the pickled dict of the format")
            data = fh.read(MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                raise bad(f"over {_human(MAX_CONFIG_BYTES)}; the format's is a small dict")
            try:
                return npz_pickle.load(data)
            except npz_pickle.Refused as e:
                raise bad(str(e)) from None
        text = key == "save_timestamp" and dtype.kind in "US"
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or not (dtype.kind in NUMBERS or text):
            raise bad(f"it holds {dtype} values, not numbers"
                      + (" (pickled objects are read only in config_params)"
                         if dtype.hasobject else ""))
        if any(d < 0 for d in shape):
            raise bad(f"the shape {shape} is not an array's")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:  # checked before the read: a header may claim anything
            raise bad(f"its header declares shape {shape} ({_human(nbytes)}) but the file "
                      f"holds {info.file_size:,} bytes")
        data = fh.read(nbytes)
        if len(data) != nbytes:
            raise bad(f"its header declares shape {shape} but the data ends after "
                      f"{len(data):,} of {nbytes:,} bytes")
    out = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return out.reshape(shape, order="F" if fortran else "C").copy()
