"""The lab service's parts that need no running service: configs through the queue, the
event fan-out, the wire format, the files beside the database, foreground marks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from moelab.engine.config import ConfigError, with_overrides
from moelab.engine.config_stored import config_from_stored, raw_from_config
from moelab.engine.executors.local import died_message
from moelab.engine.presets import PRESETS, build_config, get
from moelab.engine.service.configs import submitted_config
from moelab.engine.service.events import EventHub
from moelab.engine.service.owners import foreground_alive, foreground_mark, foreground_owner
from moelab.engine.service.paths import ServicePaths
from moelab.engine.service.protocol import ProtocolError, _jsonable, decode, encode, parse_request


@pytest.mark.parametrize("name", list(PRESETS))
def test_stored_config_comes_back_identical(name):
    for quick in (False, True):
        cfg = build_config(name, quick=quick)
        assert config_from_stored(cfg.to_json()) == cfg
        assert submitted_config(raw_from_config(cfg), name=cfg.name) == cfg


def test_submitted_config_names_and_validates_like_run():
    raw = with_overrides(get("fig5").raw(True), ["train.steps=10"])
    cfg = submitted_config(raw, preset="fig5", quick=True)
    assert cfg.name == "fig5 --quick" and cfg.train.steps == 10
    assert submitted_config(None, preset="fig5").name == "fig5"
    with pytest.raises(ConfigError, match="model.n_features must be at least 1"):
        submitted_config({"model": {"n_features": 0}})
    # a problem only one sweep point has is caught at submission, not when it runs
    with pytest.raises(ConfigError, match="k"):
        submitted_config({"model": {"kind": "moe", "n_experts": 2},
                          "sweep": {"model.k": [1, 3]}})


def test_progress_coalesces_and_status_keeps_order():
    hub = EventHub()
    sub = hub.subscribe()
    for step in range(100):
        hub.publish({"type": "progress", "step": step})
    hub.publish({"type": "status", "experiment_id": 1, "status": "done"})
    hub.publish({"type": "progress", "step": 0, "experiment_id": 2})
    got = sub.take(timeout=0.1)
    assert got == [{"type": "progress", "step": 99},
                   {"type": "status", "experiment_id": 1, "status": "done"},
                   {"type": "progress", "step": 0, "experiment_id": 2}]
    assert sub.take(timeout=0.01) == []
    hub.unsubscribe(sub)
    hub.publish({"type": "status"})  # no one listens: nothing blocks, nothing grows
    assert sub.take(timeout=0.01) == []


def test_protocol_refuses_malformed_requests():
    assert parse_request(b'{"op": "ping"}\n') == ("ping", {})
    for bad in (b"hello\n", b"[1, 2]\n", b'{"args": {}}\n', b'{"op": "x", "args": 3}\n',
                b"\xff\xfe\n"):
        with pytest.raises(ProtocolError, match="malformed request"):
            parse_request(bad)
    back = decode(encode({"x": float("nan"), "t": (1, 2), "n": 2**40}))
    assert back["x"] != back["x"] and back["t"] == [1, 2] and back["n"] == 2**40


def test_protocol_fast_path_changes_no_value():
    """orjson writes most replies; whatever it would change (NaN as null, big ints as
    floats, int keys) takes json's path and comes back as json would give it."""
    import datetime as dt
    import json

    import numpy as np
    cases = [{"cols": {"a": [1.5, None, 2.0], "b": ["x", None]}}, [1, 2, float("-inf")],
             {"deep": [[1.0, None], {"y": [float("nan")]}]}, [float("inf"), float("-inf")],
             {"n": 2**70}, {1: "a"}, {"d": dt.datetime(2026, 1, 2, 3, 4, 5)}, {"s": {3}},
             {"a": np.array([1.0, np.nan])}, {"v": np.float64("inf")}, [1e308, 1e308]]
    for case in cases:
        want = json.dumps(json.loads(json.dumps(case, default=_jsonable, allow_nan=True)))
        assert json.dumps(decode(encode(case))) == want, case
    assert not encode({"a": [1.0, 2.0]}).startswith(b" ")  # the fast path was taken


def test_files_beside_the_database(tmp_path):
    p = ServicePaths.of(tmp_path / "lab.duckdb")
    assert p.socket == tmp_path / "lab.duckdb.sock"
    assert p.info.name == "lab.duckdb.service.json" and p.log.name == "lab.duckdb.service.log"


def test_long_database_paths_get_a_short_private_socket(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    p = ServicePaths.of(deep / "lab.duckdb")
    assert len(str(p.socket)) <= 100
    assert p.socket.parent != deep
    st = p.socket.parent.stat()
    assert st.st_uid == os.getuid() and st.st_mode & 0o077 == 0
    assert ServicePaths.of(deep / "lab.duckdb").socket == p.socket  # clients find it too
    assert ServicePaths.of(deep / "other.duckdb").socket != p.socket


def test_foreground_marks():
    mark = foreground_mark()
    assert foreground_owner(mark)[0] == os.getpid()
    assert foreground_alive(mark)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    assert not foreground_alive(mark.replace(str(os.getpid()), dead))
    assert foreground_owner("cancelled before it ran") is None


def test_worker_deaths_are_explained():
    assert "SIGKILL (out of memory?" in died_message(-9, "x.log")
    assert "exited with status 3" in died_message(3, "x.log")


def test_client_path_imports_neither_torch_nor_duckdb():
    code = ("import sys; import moelab.cli as c; c.build_parser(); "
            "import moelab.engine.service.client, moelab.cmd_service, moelab.cmd_data; "
            "bad = [m for m in ('torch', 'duckdb') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stderr


def test_cmd_data_formats_match_the_printer():
    from moelab import cmd_data, output
    assert cmd_data.FORMATS == output.FORMATS


def test_eta_follows_the_recent_rate(monkeypatch):
    from moelab.engine.service import scheduler
    clock = [0.0]
    monkeypatch.setattr(scheduler.time, "monotonic", lambda: clock[0])
    from moelab.engine.executors.base import UnitProgress
    job = scheduler.Job(1, "x", "{}", n_models=4, work_total=10_000)
    assert job.eta_seconds() is None

    def report(t: float, work: int) -> None:
        clock[0] = t
        job.record(UnitProgress(0, work, 20_000, 1, 0.1, "cpu"))
    report(0.0, 0)
    report(10.0, 5000)  # 500 per second
    assert job.eta_seconds() == 10.0
    for t in range(11, 101):  # then a batch of bigger models: 10 per second
        report(float(t), 5000 + 10 * (t - 10))
    assert job.eta_seconds() == pytest.approx((10_000 - 5900) / 10, rel=0.05)
