"""A runaway query cannot eat the service (issue 11, item 6), big results are refused early,
and a flood of clients or bad requests neither drops connections nor floods the log."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import pytest
from safety_support import cli, make_lab, one_clear_line, running_service

from moelab.db import open_store, run_read_query
from moelab.db.userquery import QueryInterrupted, interrupt_all, running_count
from moelab.engine.client import ClientError
from moelab.engine.service.client import ServiceClient
from moelab.engine.service.logfile import RotatingStderrHandler, Throttle
from moelab.engine.service.paths import ServicePaths

RUNAWAY = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"


@pytest.fixture
def lab(tmp_path):
    db = make_lab(tmp_path / "lab.duckdb")
    with running_service(db) as info:
        yield db, info["pid"]


def _send(db, request: dict) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(ServicePaths.of(db).socket))
    sock.sendall(json.dumps(request).encode() + b"\n")
    return sock


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log(db) -> str:
    return ServicePaths.of(db).log.read_text()


def test_a_runaway_query_stops_when_its_client_hangs_up(lab):
    db, pid = lab
    sock = _send(db, {"op": "sql", "args": {"query": RUNAWAY}})
    time.sleep(1.0)
    with ServiceClient(db) as other:
        for _ in range(3):  # the service keeps answering while the query computes
            started = time.monotonic()
            assert other.status()["service"]["pid"] == pid
            assert other.sql("SELECT count(*) FROM runs")[1] == [[6]]
            assert time.monotonic() - started < 1.0
        sock.close()  # what Ctrl-C in `moelab sql` does
        deadline = time.monotonic() + 2.0
        while "its client went away" not in _log(db):
            assert time.monotonic() < deadline, _log(db)[-2000:]
            time.sleep(0.05)
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        assert _cpu_seconds(pid) - before < 0.3  # no core left computing for nobody


def test_time_limit_and_interrupt_op(lab):
    db, _ = lab
    with ServiceClient(db) as client:
        started = time.monotonic()
        with pytest.raises(ClientError, match="ran past the 1 s limit"):
            client.sql(RUNAWAY, timeout=1)
        assert time.monotonic() - started < 3.0
        errors = []
        waiting = threading.Thread(target=lambda: _catch(errors, client.sql, RUNAWAY))
        waiting.start()
        time.sleep(0.8)
        assert client.interrupt() == 1  # the TUI's cancel, on a second connection
        waiting.join(3.0)
        assert not waiting.is_alive() and "interrupted by its user" in errors[0]


def _catch(errors, fn, *args):
    try:
        fn(*args)
    except ClientError as err:
        errors.append(str(err))


def test_engine_stop_while_a_query_runs(lab):
    db, pid = lab
    sock = _send(db, {"op": "sql", "args": {"query": RUNAWAY}})
    time.sleep(0.8)
    started = time.monotonic()
    proc = cli("engine", "stop", db=db)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10.0
    reply = json.loads(sock.makefile("rb").readline())
    assert not reply["ok"] and "stopping" in reply["error"]
    assert "Traceback" not in _log(db) and "busy" not in _log(db)


def test_huge_results_are_refused_early_and_limits_cap(tmp_path):
    with open_store(tmp_path / "lab.duckdb") as store:
        started = time.monotonic()
        with pytest.raises(Exception, match="more than 100000 rows"):
            run_read_query(store, "SELECT * FROM range(10000000)")
        assert time.monotonic() - started < 5.0
        _, rows = run_read_query(store, "SELECT * FROM range(10000000)", limit=10**30)
        assert len(rows) == 100_000  # a huge --limit is the cap, not an overflow
        with pytest.raises(Exception, match="larger than 1 MB"):
            os.environ["MOELAB_SQL_MAX_MB"] = "1"
            try:
                run_read_query(store, "SELECT repeat('x', 1000) FROM range(5000)")
            finally:
                del os.environ["MOELAB_SQL_MAX_MB"]
        with pytest.raises(QueryInterrupted, match="0.5 s limit"):
            run_read_query(store, RUNAWAY, timeout=0.5)
        assert running_count() == 0 and interrupt_all("nothing runs") == 0


def test_the_cli_says_the_limits_in_one_line(lab):
    db, _ = lab
    err = one_clear_line(cli("sql", "SELECT * FROM range(10000000)", db=db))
    assert "more than 100000 rows" in err
    err = one_clear_line(cli("sql", RUNAWAY, "--timeout", "1", db=db))
    assert "1 s limit" in err
    one_clear_line(cli("runs", "--limit", "1e30", db=db))
    proc = cli("runs", "--limit", str(10**30), "--format", "csv", db=db)
    if proc.returncode == 0:  # capped, or refused in one line: never an overflow
        assert len(proc.stdout.splitlines()) == 7, proc.stderr
    else:
        assert "limit" in one_clear_line(proc)


def test_two_hundred_clients_at_once_all_connect(lab):
    db, _ = lab
    path = str(ServicePaths.of(db).socket)
    socks, failures = [], 0
    for _ in range(200):  # connect all before the service accepts any
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except (BlockingIOError, ConnectionRefusedError, OSError):
            failures += 1
        socks.append(s)
    for s in socks:
        s.close()
    assert failures == 0


def test_malformed_requests_do_not_flood_the_log(lab):
    db, _ = lab
    before = len(_log(db).splitlines())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(ServicePaths.of(db).socket))
    rfile = sock.makefile("rb")
    for i in range(1000):
        sock.sendall(b"not json %d\n" % i)
        assert not json.loads(rfile.readline())["ok"]
    sock.close()
    assert len(_log(db).splitlines()) - before <= 10


def test_throttle_and_rotation_by_size(tmp_path):
    throttle = Throttle(burst=2, window=60)
    assert [throttle.allow()[0] for _ in range(5)] == [True, True, False, False, False]
    log = tmp_path / "svc.log"
    with open(log, "a") as stream:
        handler = RotatingStderrHandler(log, limit=2000, stream=stream)
        logger = logging.getLogger("moelab.test-rotation")
        logger.addHandler(handler)
        logger.propagate = False
        for i in range(100):
            logger.warning("line %d %s", i, "x" * 40)
        logger.removeHandler(handler)
    assert (tmp_path / "svc.log.1").exists()
    assert log.stat().st_size <= 2100 and oct(log.stat().st_mode & 0o777) == "0o600"
