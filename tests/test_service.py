"""The lab service for real: a detached process on a temp database, its queue, its workers,
its socket, a kill -9 in the middle of a run, and bad requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from service_helpers import experiment, finished, tiny, wait_for  # noqa: E402

from moelab.engine.client import ClientError, DirectClient
from moelab.engine.service.client import ServiceClient, connect, service_running, stop_service
from moelab.engine.service.paths import pid_alive, read_info

MOELAB = [sys.executable, "-m", "moelab.cli"]


def first_progress(client, eid: int, step: int = 1) -> dict:
    def ready():
        r = client.status()["running"]
        return r if r and r["experiment_id"] == eid and r["step"] >= step else None
    return wait_for(ready, every=0.05)


def cli(*args, db) -> subprocess.CompletedProcess:
    return subprocess.run([*MOELAB, *args, "--db", str(db)], capture_output=True, text=True,
                          timeout=120)


def test_queue_three_and_serve_clients_while_training(lab):
    client = lab()
    assert isinstance(client, ServiceClient) and service_running(lab.db)
    events, seen = client.events(), []
    reader = threading.Thread(target=lambda: seen.extend(events), daemon=True)
    reader.start()
    # a client that subscribes and never reads must not hold anything up
    idle = socket.socket(socket.AF_UNIX)
    idle.connect(str(lab.paths.socket))
    idle.sendall(b'{"op": "events"}\n')

    ids = [client.submit(tiny(4000), preset="tms-classic", quick=True)]
    out = cli("queue", "tms-classic", "--quick", "--set", "train.steps=30",
              "--sweep", "data.sparsity=0.5,0.9", db=lab.db)
    assert out.returncode == 0, out.stderr
    ids.append(int(out.stdout.strip()))
    ids.append(client.submit(tiny(30), name="third"))
    assert ids == sorted(ids) and len(set(ids)) == 3

    # while the first trains: status, SQL and the CLI all answer
    running = first_progress(client, ids[0])
    assert running["n_models"] == 2 and running["steps"] == 4000
    assert running["device"] == "cpu" and running["work_total"] == 8000
    t0 = time.perf_counter()
    status = client.status()
    cols, rows = client.sql("SELECT count(*) AS n FROM experiments")
    latency = time.perf_counter() - t0
    assert [q["experiment_id"] for q in status["queued"]] == ids[1:]
    assert cols == ["n"] and rows == [[3]]
    assert latency < 1.0
    assert status["service"]["pid"] == read_info(lab.paths)["pid"]
    out = cli("sql", "SELECT name FROM experiments ORDER BY 1", "--format", "csv", db=lab.db)
    assert out.returncode == 0 and "third" in out.stdout, out.stderr
    out = cli("status", db=lab.db)
    assert out.returncode == 0 and "queued" in out.stdout, out.stderr

    rows = [wait_for(lambda e=e: finished(client, e)) for e in ids]
    assert [r["status"] for r in rows] == ["done"] * 3, rows
    assert rows[2]["name"] == "third" and rows[0]["name"] == "tms-classic --quick"
    _, counts = client.sql("SELECT experiment_id, count(*) FROM runs GROUP BY 1 ORDER BY 1")
    assert counts == [[e, 2] for e in ids]
    wait_for(lambda: sum(1 for e in seen if e["type"] == "status"
                         and e["status"] == "done") == 3, timeout=10)
    statuses = [(e["experiment_id"], e["status"]) for e in seen if e["type"] == "status"]
    for eid in ids:
        assert [s for e, s in statuses if e == eid] == ["queued", "running", "done"]
    assert any(e["type"] == "progress" and e["experiment_id"] == ids[0] for e in seen)
    client.close()
    reader.join(5)
    assert not reader.is_alive()  # the stream ends when its client closes
    idle.close()


def test_sigkill_mid_run_then_restart_reruns_the_interrupted(lab):
    client = lab()
    first = client.submit(tiny(20))
    assert wait_for(lambda: finished(client, first))["status"] == "done"
    second = client.submit(tiny(5000))
    running = first_progress(client, second, step=50)
    pid, worker = client.status()["service"]["pid"], running["worker_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=10)
    wait_for(lambda: not pid_alive(worker), timeout=15)  # no orphan keeps training

    client = lab()  # starts a new service on the same file
    assert client.status()["service"]["pid"] != pid
    row = experiment(client, second)
    assert row["status"] in ("interrupted", "running")
    assert "resum" in row["message"]  # "it resumes" / "resuming after an interruption"
    assert "was interrupted; requeued" in lab.paths.log.read_text()
    assert wait_for(lambda: finished(client, second))["status"] == "done"
    _, counts = client.sql("SELECT experiment_id, count(*), count(DISTINCT run_id) FROM runs "
                           "GROUP BY 1 ORDER BY 1")
    assert counts == [[first, 2, 2], [second, 2, 2]]


def test_cancel_queued_running_finished_and_unknown(lab):
    client = lab()
    long = client.submit(tiny(100_000))
    queued = client.submit(tiny(20))
    first_progress(client, long)
    assert client.cancel(queued) == "cancelled"
    t0 = time.monotonic()
    assert client.cancel(long) == "cancelled"
    assert time.monotonic() - t0 < 10
    row = experiment(client, long)
    assert row["status"] == "cancelled" and "cancelled while it ran" in row["message"]
    assert experiment(client, queued)["status"] == "cancelled"
    _, rows = client.sql("SELECT count(*) FROM runs")
    assert rows == [[0]]
    with pytest.raises(ClientError, match="already finished"):
        client.cancel(long)
    with pytest.raises(ClientError, match="no experiment with id 99"):
        client.cancel(99)
    out = cli("cancel", "99", db=lab.db)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "99" in out.stderr
    assert client.status()["running"] is None  # and the queue is idle, not stuck

    # `moelab engine stop` during a run: interrupted, and it runs again at the next start
    again = client.submit(tiny(100_000))
    first_progress(client, again)
    assert stop_service(lab.db).startswith("stopped")
    with DirectClient(lab.db) as direct:
        row = direct.read("experiment", experiment_id=again)
    assert row["status"] == "interrupted" and "resumes" in row["message"]


def test_a_dying_worker_is_retried_then_fails_its_experiment_and_the_queue_goes_on(lab):
    from moelab.engine.executors.base import MAX_TRIES
    client = lab()
    doomed = client.submit(tiny(100_000))
    after = client.submit(tiny(20))
    killed: list[int] = []
    for _ in range(MAX_TRIES):  # each try's worker is killed: a fresh one takes the unit again
        def fresh_worker():
            r = client.status()["running"]
            pid = r and r["experiment_id"] == doomed and r.get("worker_pid")
            return pid if pid and pid not in killed and r["step"] >= 1 else None
        pid = wait_for(fresh_worker, every=0.05)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    row = wait_for(lambda: finished(client, doomed))
    assert row["status"] == "failed" and "killed by SIGKILL" in row["message"]
    assert "failed on every try" in row["message"]
    assert wait_for(lambda: finished(client, after))["status"] == "done"
    assert client.request("ping")["pid"] == client.status()["service"]["pid"]


def test_a_second_service_is_refused_and_says_where_the_first_runs(lab):
    client = lab()
    info = client.status()["service"]
    out = subprocess.run([sys.executable, "-m", "moelab.engine.service", str(lab.db)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"already runs for {lab.db} (pid {info['pid']}" in out.stderr
    out = cli("engine", "start", db=lab.db)
    assert out.returncode == 0 and f"pid {info['pid']}" in out.stdout
    out = cli("engine", "status", db=lab.db)
    assert out.returncode == 0 and str(lab.paths.socket) in out.stdout
    assert client.request("ping")["pid"] == info["pid"]  # the first one is untouched
    out = cli("engine", "stop", db=lab.db)
    assert out.returncode == 0 and "stopped" in out.stdout
    assert not lab.paths.socket.exists() and not lab.paths.info.exists()
    out = cli("engine", "status", db=lab.db)
    assert out.returncode == 1 and "no lab service runs" in out.stdout


def test_socket_and_info_are_private_and_hangup_is_ignored(lab):
    client = lab()
    pid = client.request("ping")["pid"]
    os.kill(pid, signal.SIGHUP)  # what a closed terminal or a lost SSH session sends
    time.sleep(0.2)
    assert client.request("ping")["pid"] == pid
    st = lab.paths.socket.stat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(lab.paths.info.stat().st_mode) == 0o600
    assert json.loads(lab.paths.info.read_text())["socket"] == str(lab.paths.socket)


def test_bad_requests_get_one_line_and_the_service_keeps_serving(lab):
    client = lab()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(lab.paths.socket))
    f = s.makefile("rb")

    def ask(raw: bytes) -> dict:
        s.sendall(raw)
        return json.loads(f.readline())

    replies = [ask(b"this is not json\n"), ask(b'{"op": "launch_missiles"}\n'),
               ask(b'{"op": "cancel", "args": {"experiment_id": "x"}}\n'),
               ask(b'{"op": "cancel", "args": {"id": 1}}\n'),
               ask(b'{"op": "submit", "args": {"config": {"model": {"n_features": 0}}}}\n'),
               ask(b'{"op": "sql", "args": {"query": "DELETE FROM runs"}}\n'),
               ask(b'{"op": "read", "args": {"name": "nope"}}\n')]
    assert all(r["ok"] is False and "\n" not in r["error"] for r in replies), replies
    errors = [r["error"] for r in replies]
    assert errors[0].startswith("malformed request")
    assert "unknown op 'launch_missiles'" in errors[1]
    assert "whole number" in errors[2] and "bad arguments for cancel" in errors[3]
    assert "model.n_features must be at least 1" in errors[4]
    assert "only SELECT" in errors[5] and "unknown read 'nope'" in errors[6]
    assert ask(b'{"op": "ping"}\n')["ok"] is True  # same connection still served
    try:
        s.sendall(b"x" * (5 * 1024 * 1024) + b"\n")
    except BrokenPipeError:  # the service answered and hung up before taking it all
        pass
    assert "request longer than" in json.loads(f.readline())["error"]
    s.close()
    with pytest.raises(ClientError, match="model.n_features must be at least 1"):
        client.submit({"model": {"n_features": 0}})
    assert client.status()["counts"] == {}  # nothing half-written
    assert client.read("service_queue") == []


def test_locked_by_another_program_is_one_line(tmp_path):
    db = tmp_path / "lab.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ok', flush=True); time.sleep(120)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        out = cli("engine", "start", db=db)
        assert out.returncode == 2, out
        assert out.stderr.count("\n") == 1
        assert f"locked by another process (pid {holder.pid}" in out.stderr
        assert "not a moelab service" in out.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not service_running(db)


def test_without_a_service_reads_go_to_the_file(lab):
    out = cli("run", "tms-classic", "--quick", "--set", "train.steps=10", "--sweep",
              "data.sparsity=0.5", db=lab.db)
    assert out.returncode == 0, out.stderr
    client = lab(autostart=False)
    assert isinstance(client, DirectClient)
    assert client.sql("SELECT status FROM experiments")[1] == [["done"]]
    client.close()
    out = cli("status", db=lab.db)
    assert out.returncode == 0 and "not running" in out.stdout
    assert not service_running(lab.db)


def test_a_long_database_path_still_gets_a_socket(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    db = deep / "lab.duckdb"
    with connect(db) as client:
        assert client.request("ping")["db"] == str(db)
        assert not Path(f"{db}.sock").exists()
    assert stop_service(db).startswith("stopped")
