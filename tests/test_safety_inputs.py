"""Bad input gets one clear line and exit status 2, never a traceback, never a half-written
database, and never eats the machine (issue 11, "Bad input"); the estimate behind the
refusals of what cannot fit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from safety_support import cli, make_lab, one_clear_line

from moelab.db import open_read_only
from moelab.engine.estimate import DAY, MAX_MODELS, TooBig, check_fits, estimate
from moelab.engine.presets import PRESETS, build_config
from moelab.engine.service.paths import ServicePaths

QUICK = ("run", "tms-classic", "--quick")
WIDE = ",".join(str(i / 2000) for i in range(2000))
# (what is tried, the arguments, a word the refusal must contain)
BAD = [
    ("--config naming a folder", ("run", "--config", "{folder}"), "folder"),
    ("binary TOML", ("run", "--config", "{binary}"), "UTF-8"),
    ("non-UTF-8 TOML", ("run", "--config", "{latin}"), "UTF-8"),
    ("router_init with strings", ("run", "--config", "{router}"), "router_init"),
    ("lr = 1e308", (*QUICK, "--set", "train.lr=1e308"), "train.lr"),
    ("last_scale = 1e308", (*QUICK, "--set", "data.last_scale=1e308"), "last_scale"),
    ("runs --limit 1e30", ("runs", "--limit", "1e30"), "--limit"),
    ("sql UPDATE EXTENSIONS", ("sql", "UPDATE EXTENSIONS"), "read-only"),
    ("n_features = 1000000", (*QUICK, "--set", "model.n_features=1000000"), "memory"),
    ("batch_size = 1e9", (*QUICK, "--set", "train.batch_size=1e9"), "whole number"),
    ("batch_size = 1000000000", (*QUICK, "--set", "train.batch_size=1000000000"), "memory"),
    ("eval_samples = 1e10", (*QUICK, "--set", "train.eval_samples=1e10"), "whole number"),
    ("eval_samples = 10^10", (*QUICK, "--set", "train.eval_samples=10000000000"), "memory"),
    ("seeds = 1e9", (*QUICK, "--set", "train.seeds=1e9"), "whole number"),
    ("seeds = 10^9", (*QUICK, "--set", "train.seeds=1000000000"), "models"),
    ("steps = 1e12", (*QUICK, "--set", "train.steps=1e12"), "whole number"),
    ("steps = 10^12", (*QUICK, "--set", "train.steps=1000000000000"), "about"),
    ("steps = 10^9 (days)", (*QUICK, "--set", "train.steps=1000000000"), "--yes"),
    ("a 4-million-model sweep", (*QUICK, "--sweep", f"data.sparsity={WIDE}", "--sweep",
                                 f"data.last_importance={WIDE}"), "4,000,000"),
    ("queue n_features = 10^6", ("queue", "tms-classic", "--quick", "--set",
                                 "model.n_features=1000000"), "memory"),
    ("queue seeds = 10^9", ("queue", "tms-classic", "--quick", "--set",
                            "train.seeds=1000000000"), "models"),
    ("queue --config folder", ("queue", "--config", "{folder}"), "folder"),
    ("cancel 999 without a service", ("cancel", "999"), "no experiment"),
    ("cancel a done one without a service", ("cancel", "1"), "no lab service runs"),
    ("--db a FIFO", ("status", "--db", "{fifo}"), "not a regular file"),
    ("runs --where with a file", ("runs", "--where", "run_id IN (FROM 'data.csv')"), "file"),
    ("sql with a bad timeout", ("sql", "SELECT 1", "--timeout", "-1"), "timeout"),
    ("MOELAB_UMASK garbage", ("status",), "MOELAB_UMASK"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("badinput")
    (folder / "configs").mkdir()
    (folder / "binary.toml").write_bytes(b"\x00\xff\xfe\x00binary")
    (folder / "latin.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    (folder / "router.toml").write_text(
        '[model]\nkind = "moe"\nn_features = 2\nn_experts = 2\n'
        'router_init = [["a", "b"], ["c", "d"]]\n')
    import os
    os.mkfifo(folder / "fifo.duckdb")
    return make_lab(folder / "lab.duckdb")


def _experiments(db) -> int:
    with open_read_only(db) as store:
        return len(store.experiments())


@pytest.mark.parametrize(("what", "argv", "word"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_changes_nothing(lab, what, argv, word):
    folder = lab.parent
    names = {"folder": folder / "configs", "binary": folder / "binary.toml",
             "latin": folder / "latin.toml", "router": folder / "router.toml",
             "fifo": folder / "fifo.duckdb"}
    argv = [a.format(**names) for a in argv]
    env = {"MOELAB_UMASK": "garbage"} if what.startswith("MOELAB_UMASK") else {}
    before = _experiments(lab)
    started = time.monotonic()
    proc = cli(*argv, db=None if "--db" in argv else lab, env=env, cwd=folder, timeout=60)
    err = one_clear_line(proc)
    assert word in err, err
    assert time.monotonic() - started < 30
    assert _experiments(lab) == before
    assert not ServicePaths.of(lab).socket.exists()  # no service was started to say it


def test_refusals_without_a_service_do_not_import_torch(lab):
    probe = ("import json, sys, time; t = time.perf_counter(); from moelab.cli import main\n"
             "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, "
             "'seconds': time.perf_counter() - t}))")
    for argv in (["run", "--config", str(lab.parent / "configs")],
                 ["run", "tms-classic", "--quick", "--set", "train.lr=1e308"],
                 ["run", "tms-classic", "--quick", "--set", "model.n_features=1000000"],
                 ["cancel", "999"], ["sql", "UPDATE EXTENSIONS"]):
        proc = subprocess.run([sys.executable, "-c", probe, *argv, "--db", str(lab)],
                              capture_output=True, text=True, timeout=60)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["code"] == 2 and not out["torch"], (argv, out, proc.stderr)


def test_pivot_is_read_only_and_allowed(lab):
    proc = cli("sql", "PIVOT runs ON kind USING count(*)", "--format", "csv", db=lab)
    assert proc.returncode == 0 and proc.stdout.count("\n") >= 2, proc.stderr


def test_every_preset_fits_and_is_estimated_in_milliseconds():
    for name in PRESETS:
        for quick in (True, False):
            est = check_fits(build_config(name, quick=quick))
            assert 0 < est.memory < 8 << 30 and est.seconds < DAY, (name, est.line())
    big = build_config("tms-classic", quick=True, sweeps=[f"data.sparsity={WIDE}",
                                                          f"data.last_importance={WIDE}"])
    started = time.perf_counter()
    assert estimate(big).n_models == 4_000_000 > MAX_MODELS
    assert time.perf_counter() - started < 0.05


def test_over_a_day_asks_first():
    cfg = build_config("tms-classic", quick=True, sets=["train.steps=1000000000"])
    with pytest.raises(TooBig, match="over a day: pass --yes"):
        check_fits(cfg)
    asked = []
    assert check_fits(cfg, confirm=lambda est: asked.append(est) or True).seconds > DAY
    assert len(asked) == 1
    assert check_fits(cfg, yes=True).n_models == 8
    with pytest.raises(TooBig, match="over a year"):
        check_fits(build_config("tms-classic", quick=True,
                                sets=["train.steps=100000000000"]), yes=True)


def test_the_service_refuses_what_cannot_fit(tmp_path):
    from moelab.engine.config import ConfigError
    from moelab.engine.presets import get
    from moelab.engine.service.configs import submitted_config
    raw = get("tms-classic").raw(True)
    raw["train"]["seeds"] = 10**9
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="models"):
        submitted_config(raw)
    assert time.perf_counter() - started < 1.0  # refused before a billion specs are built

