"""One query cannot take the service's memory or time (issue 25, item 5): values that one
call would build too big are refused before planning, a plan too big to make is refused, a
query growing batch by batch is stopped by the memory watchdog, DuckDB's memory_limit is the
budget and holds, and when a query takes the service down anyway `moelab status` says which.

The bombs here are the issue's, scaled down so that the old code (which ran them) costs the
test machine about 2 GB rather than 11 GB; they still broke its bounds."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
from safety_support import cli, make_lab, one_clear_line, running_service

from moelab.db import QueryRefused, check_read_only, open_store
from moelab.engine.client import ClientError
from moelab.engine.service.client import ServiceClient
from moelab.engine.service.paths import ServicePaths, pid_alive

LIMITS = {"MOELAB_SQL_MEMORY": "256MB", "MOELAB_SQL_TIMEOUT": "2"}
UNIONS = " UNION ALL ".join(["SELECT 1"] * 6000)  # 60 KB; the issue's had 20,000 terms
BOMBS = [
    "SELECT len(range(30000000))",  # the issue's: range(300000000)
    "SELECT length(repeat(repeat('x', 1000000), 400))",  # the issue's: 4000
    f"SELECT count(*) FROM ({UNIONS})",
]
GROWS = "SELECT max(len(list_transform(range(20000), lambda x: x + i))) FROM range(2000000) t(i)"
ISSUE = [
    "SELECT len(range(300000000))",
    "SELECT length(repeat(repeat('x',1000000),4000))",
    " UNION ALL ".join(["SELECT 1"] * 1500),  # under the text cap, over the terms cap
    # 240 joins: planning took 44-80 s, not interruptible
    "SELECT 1 FROM runs r0 " + " ".join(f"JOIN runs r{i} USING (run_id)" for i in range(1, 240)),
]


def _peak_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def lab(tmp_path):
    db = make_lab(tmp_path / "lab.duckdb")
    with running_service(db, env=LIMITS) as info:
        yield db, info["pid"]


def test_the_issues_bombs_are_refused_by_the_guard_alone():
    for sql in ISSUE:
        with pytest.raises(QueryRefused):
            check_read_only(sql)
    for sql in ("SELECT len(range(1000)), repeat('-', 40), lpad('7', 3, '0')",
                "SELECT count(*) FROM range(300000000)",  # streamed: bounded by the time limit
                "SELECT * FROM unnest(generate_series(1, 10))"):
        check_read_only(sql)


def test_bombs_stop_fast_with_one_line_and_bounded_memory(lab):
    db, pid = lab
    with ServiceClient(db) as client:
        client.sql("SELECT count(*) FROM runs")
        base = _peak_mb(pid)
        for sql in BOMBS:
            started = time.monotonic()
            with pytest.raises(ClientError) as info:
                client.sql(sql)
            assert time.monotonic() - started < 5.0, sql[:60]
            assert "\n" not in str(info.value)
        assert _peak_mb(pid) - base < 300, (base, _peak_mb(pid))
        assert client.sql("SELECT count(*) FROM runs")[1] == [[6]]


def test_a_query_growing_batch_by_batch_is_stopped_for_memory(lab):
    db, pid = lab
    with ServiceClient(db) as client, pytest.raises(ClientError, match="MOELAB_SQL_MEMORY"):
        client.sql(GROWS, timeout=30)
    assert pid_alive(pid)


def test_duckdb_memory_limit_is_the_budget_and_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("MOELAB_SQL_MEMORY", "256MB")
    monkeypatch.delenv("MOELAB_DB_MEMORY", raising=False)
    with open_store(tmp_path / "x.duckdb") as store:
        cursor = store._cursor()
        assert cursor.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] \
            in ("256.0 MiB", "244.1 MiB")
        with pytest.raises(Exception, match="configuration"):
            cursor.execute("SET memory_limit = '64GB'")


def test_text_cap_and_bad_settings_in_one_line(tmp_path):
    db = make_lab(tmp_path / "lab.duckdb")
    long = "SELECT 1" + " " * 2000
    assert "MOELAB_SQL_MAX_CHARS" in one_clear_line(
        cli("sql", long, db=db, env={"MOELAB_SQL_MAX_CHARS": "1000"}))
    assert "MOELAB_SQL_MEMORY" in one_clear_line(
        cli("sql", "SELECT 1", db=db, env={"MOELAB_SQL_MEMORY": "lots"}))


def test_status_says_when_a_query_took_the_service_down(tmp_path):
    db = make_lab(tmp_path / "lab.duckdb")
    runaway = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
    with running_service(db) as info:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(ServicePaths.of(db).socket))
        sock.sendall(json.dumps({"op": "sql", "args": {"query": runaway}}).encode() + b"\n")
        time.sleep(0.5)
        os.kill(info["pid"], signal.SIGKILL)  # what the kernel's OOM killer does
        deadline = time.monotonic() + 10
        while pid_alive(info["pid"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sock.close()
        out = cli("status", db=db)
        assert out.returncode == 0, out.stderr
        assert "stopped while running a query" in out.stdout and "range(1000000) a" in out.stdout
    with running_service(db), ServiceClient(db) as client:
        assert "range(1000000) a" in client.status()["stopped_in_query"]
