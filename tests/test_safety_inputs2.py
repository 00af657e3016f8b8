"""Bad input, round two (issue 25, item 8): inputs that used to end in a traceback. Each is one
line on stderr starting "moelab: ", exit status 2, nothing written: a TOML nested 50,000 deep,
a --db name past the file system's limit, hostile .npz files (built here by hand: a pickle
asking for 931 GiB, a header declaring terabytes, a zip bomb, ...), a custom metric returning
10**400. `moelab compare` on runs whose weights are NaN says which, and compares the rest."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from safety_support import cli, make_lab, one_clear_line

from moelab.db import open_read_only

sys.path.insert(0, str(Path(__file__).parent))
from test_npz_import import cell_weights, write_npz  # noqa: E402

DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return make_lab(tmp_path_factory.mktemp("inputs2") / "lab.duckdb")


def _experiments(db) -> int:
    with open_read_only(db) as store:
        return len(store.experiments())


def refused(proc, db, before: int, word: str) -> str:
    err = one_clear_line(proc)
    assert word in err, err
    assert _experiments(db) == before
    return err


# -- TOML nested deeper than tomllib's recursion ---------------------------------------------

@pytest.mark.parametrize("how", ["config", "set", "sweep", "sweep list"])
def test_a_toml_nested_50000_deep_is_one_line(db, tmp_path, how):
    deep = tmp_path / "deep.toml"
    deep.write_text(f"[model]\nk = {DEEP}\n")
    argv = {"config": ("run", "--config", str(deep)),
            "set": ("run", "tms-classic", "--quick", "--set", f"model.k={DEEP}"),
            "sweep": ("run", "tms-classic", "--quick", "--sweep", f"model.k={DEEP}"),
            "sweep list": ("queue", "tms-classic", "--quick", "--sweep",
                           f"model.k=1,{DEEP}")}[how]
    before = _experiments(db)
    refused(cli(*argv, db=db, timeout=60), db, before, "nested more than")


def test_a_config_of_ordinary_depth_still_reads(tmp_path):
    from moelab.engine.config import load_toml, parse_value
    f = tmp_path / "ok.toml"
    f.write_text('[sweep]\n"data.sparsity" = [[0.1, 0.2], [0.3]]\n')
    assert load_toml(f)["sweep"]["data.sparsity"] == [[0.1, 0.2], [0.3]]
    assert parse_value("[" * 30 + "]" * 30) is not None


# -- a --db name over the file system's limit --------------------------------------------------

@pytest.mark.parametrize("argv", [("status",), ("sql", "SELECT 1"), ("runs",),
                                  ("queue", "tms-classic", "--quick"), ("metric", "list"),
                                  ("engine", "status"), ("compare", "1", "2")])
def test_a_db_name_over_255_bytes_is_one_line(tmp_path, argv):
    for db in (tmp_path / ("a" * 300 + ".duckdb"), tmp_path / ("b" * 300) / "lab.duckdb",
               tmp_path / ("c" * 250 + ".duckdb")):  # fits alone, not with .service.log.1
        proc = cli(*argv, db=db, timeout=60)
        err = one_clear_line(proc)
        assert "too long" in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written, no service started


def test_a_too_long_moelab_db_is_one_line(tmp_path):
    proc = cli("status", env={"MOELAB_DB": str(tmp_path / ("a" * 300))}, cwd=tmp_path)
    assert "too long" in one_clear_line(proc)


# -- hostile .npz files --------------------------------------------------------------------------

def npy(header: dict, body: bytes) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, header)
    return b.getvalue() + body


def pickled_npy(obj, protocol: int = 3) -> bytes:
    return npy({"descr": "|O", "fortran_order": False, "shape": ()},
               pickle.dumps(obj, protocol=protocol))


def with_member(src: Path, dst: Path, key: str, raw: bytes) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name != f"{key}.npy":
                zout.writestr(name, zin.read(name))
        zout.writestr(f"{key}.npy", raw)
    return dst


CONFIG = {"n_features": 3, "n_hidden": 1, "n_experts": 2, "n_active_experts": 1,
          "steps": 5000, "n_models_per_cell": 10}


def deep_config() -> bytes:
    """config_params whose "extra" is a list nested 100,000 deep: pickle loads it without
    recursing, so only later code would have met the depth."""
    raw = pickled_npy(np.array({**CONFIG, "extra": "PLACEHOLDER"}, dtype=object))
    token = b"X" + struct.pack("<I", 11) + b"PLACEHOLDER"  # BINUNICODE, protocol 3
    assert raw.count(token) == 1
    return raw.replace(token, b"]" * 100_000 + b"a" * 99_999)  # EMPTY_LIST..., APPEND...


class Reconstruct931GiB:
    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return _reconstruct, (np.ndarray, (10**12,), b"b")


class SetState931GiB:  # a small array whose BUILD then asks for 10**11 objects
    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (0,), b"b"),
                (1, (10**11,), np.dtype(object), False, [1]))


class RunsCode:
    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


MARKER = Path("/tmp") / f"moelab-npz-ran-{os.getpid()}"


def zip_bomb(src: Path, dst: Path, gib: float = 2.8) -> Path:
    """expert_weights_list as ~3 GB of zeros deflated to ~3 MB (a real, valid zip: one
    compressed 16 MiB block repeated), the other members as they are."""
    chunk, blocks = 1 << 24, int(gib * 2**30) // (1 << 24)
    n = chunk * blocks // 8 // 6
    head = npy({"descr": "<f8", "fortran_order": False, "shape": (n, 2, 3, 1)}, b"")
    a = zlib.compressobj(9, zlib.DEFLATED, -15)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = z.compress(bytes(chunk)) + z.flush(zlib.Z_FULL_FLUSH)  # the same every time
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = (a.compress(head) + a.flush(zlib.Z_FULL_FLUSH) + block * blocks
            + end.flush(zlib.Z_FINISH))
    crc = zlib.crc32(head)
    zeros = bytes(chunk)
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    with zipfile.ZipFile(src) as zin:
        members = [(m, 0, zin.read(m), None) for m in zin.namelist()
                   if m != "expert_weights_list.npy"]
    members.append(("expert_weights_list.npy", 8, data, (crc, len(head) + chunk * blocks)))
    out, central = bytearray(), bytearray()
    for name, method, body, sizes in members:
        crc_, size = sizes or (zlib.crc32(body), len(body))
        fixed = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc_, len(body), size)
        central += (struct.pack("<IH", 0x02014B50, 20) + fixed
                    + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, len(out)) + name.encode())
        out += struct.pack("<I", 0x04034B50) + fixed + struct.pack("<HH", len(name), 0)
        out += name.encode() + body
    tail = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                       len(central), len(out), 0)
    dst.write_bytes(bytes(out + central + tail))
    return dst


def zero_cells(_base: Path, dst: Path) -> Path:
    np.savez(dst, sparsity_values=np.array([0.1]), importance_values=np.array([1.0]),
             grid_keys=np.zeros((0, 2)), final_losses=np.zeros(0),
             expert_weights_list=np.zeros((0, 2, 3, 1)),
             config_params=np.array(CONFIG, dtype=object))
    return dst


HOSTILE = {  # what -> (build(base, dst), a word of the refusal)
    "deeply nested config_params": (
        lambda b, d: with_member(b, d, "config_params", deep_config()), "nested"),
    "grid_keys as a dict": (
        lambda b, d: with_member(b, d, "grid_keys",
                                 pickled_npy(np.array({"a": 1}, dtype=object))), "numbers"),
    "_reconstruct asking for 931 GiB": (
        lambda b, d: with_member(b, d, "config_params", pickled_npy(Reconstruct931GiB())),
        "931"),
    "__setstate__ asking for 745 GiB": (
        lambda b, d: with_member(b, d, "config_params", pickled_npy(SetState931GiB())),
        "GiB"),
    "a header declaring 4 TiB": (
        lambda b, d: with_member(b, d, "expert_weights_list", npy(
            {"descr": "<f8", "fortran_order": False, "shape": (10**11, 2, 3, 1)},
            bytes(64))), "declares shape"),
    "an object-dtype scalar": (
        lambda b, d: with_member(b, d, "final_losses",
                                 pickled_npy(np.array(5, dtype=object))), "numbers"),
    "an object-dtype scalar config": (
        lambda b, d: with_member(b, d, "config_params",
                                 pickled_npy(np.array(5, dtype=object))), "dict"),
    "zero cells": (zero_cells, "no cells"),
    "a zip bomb": (zip_bomb, "decompressed"),
    "a pickle that runs code": (
        lambda b, d: with_member(b, d, "config_params", pickled_npy(RunsCode())), "posix"),
    "a string config value": (
        lambda b, d: with_member(b, d, "config_params", pickled_npy(
            np.array({**CONFIG, "n_active_experts": "two"}, dtype=object))), "whole numbers"),
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_a_hostile_npz_is_one_line_and_writes_nothing(db, tmp_path, what):
    build, word = HOSTILE[what]
    f = build(write_npz(tmp_path / "base.npz"), tmp_path / "bad.npz")
    before = _experiments(db)
    started = time.monotonic()
    proc = cli("import", "npz", str(f), db=db, timeout=120)
    refused(proc, db, before, word)
    assert time.monotonic() - started < 20  # the bomb is refused unread, not after 40 s
    assert not MARKER.exists()


def test_the_deep_config_is_what_it_says():
    """The deep config above is what it says (unpickled plainly, it is 99,999 lists deep)."""
    raw = deep_config()
    value = pickle.loads(raw[raw.index(b"\n", 10) + 1:]).item()
    depth, x = 0, value["extra"]
    while x:
        depth, x = depth + 1, x[0]
    assert depth == 99_999


def test_an_npz_of_the_format_still_imports_after_the_checks(tmp_path):
    from moelab.npz_format import read
    pf = read(write_npz(tmp_path / "312.npz"))
    assert pf.setup == (3, 1, 2) and pf.config["steps"] == 5000 and len(pf.W) == 4


# -- compare with NaN weights --------------------------------------------------------------------

def test_compare_with_nan_weights_names_the_runs_and_compares_the_rest(tmp_path):
    db = tmp_path / "lab.duckdb"
    W = cell_weights()
    W[0, 0] = np.nan  # cell 0: a diverged run
    W[1, 1, 2, 0] = np.inf
    for f in (write_npz(tmp_path / "a.npz"), write_npz(tmp_path / "b.npz", W=W)):
        assert cli("import", "npz", str(f), db=db).returncode == 0
    proc = cli("compare", "1", "2", db=db)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("312"))
    assert line.split()[3] == "2"  # the two finite cells compared
    assert "left out 2 common cells" in proc.stdout and "experiment 2 runs 5, 6" in proc.stdout


def test_compare_skips_cells_without_finite_norms():
    from moelab.engine.compare import IGNORED, Cell, compare
    good = Cell.of([0.0, 1.0], [IGNORED, IGNORED])
    bad = Cell.of([None, float("nan")], [IGNORED, IGNORED])
    assert not bad.finite and good.finite
    (c,) = compare({(3, 1, 2): {(0.1, 1): good, (0.2, 1): good}},
                   {(3, 1, 2): {(0.1, 1): good, (0.2, 1): bad}})
    assert (c.cells, c.matching, c.left_out) == (1, 1, 1)


# -- a custom metric returning 10**400 ----------------------------------------------------------

def test_a_metric_returning_10_to_the_400_is_one_line_naming_it(db, tmp_path):
    (tmp_path / "bigmet.py").write_text("def f(run):\n    return 10**400\n")
    proc = cli("metric", "add", "huge", "bigmet:f", db=db, cwd=tmp_path, timeout=60)
    err = one_clear_line(proc)
    assert "huge" in err and "too large" in err, err
    assert "huge" not in cli("metric", "list", db=db).stdout


def test_a_metric_value_too_large_is_recorded_per_run_not_raised():
    from moelab.engine.custom_metrics import MetricDef, MetricError, compute, shaped
    with pytest.raises(MetricError, match="metric big returned a number too large"):
        shaped(10**400, 2, 3, "big")
    with pytest.raises(MetricError, match="too large"):
        shaped({"expert": [1, 10**400]}, 2, 3, "big")

    class Run:
        run_id, W = 7, np.zeros((2, 1, 3))
    out = compute(MetricDef.of({"name": "big", "target": "m:f"}), lambda run: 10**400, [Run()])
    assert out.errors["local_index"] == [7] and "too large" in out.errors["error"][0]
