"""The lab service on a real Dask cluster (issue 10): `dask scheduler` and two `dask worker`
processes on 127.0.0.1, started the way users start them. A queued sweep trains there with
one worker killed mid-sweep and nothing lost; cancel reaches running tasks; an address that
does not answer or a worker with another moelab is one line and exit status 2; a TLS
scheduler takes the certificate the service finds in Dask's config (docs/cluster.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from service_helpers import experiment, finished, tiny, wait_for

pytest.importorskip("distributed")

from runner_support import run_in_memory  # noqa: E402

from moelab.engine.config import from_dict  # noqa: E402
from moelab.engine.service.client import (
    ServiceClient,  # noqa: E402
    stop_service,  # noqa: E402
)

BIN = Path(sys.executable).parent
MOELAB = [sys.executable, "-m", "moelab.cli"]


def _spawn(args, log: Path, env=None) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two one-thread workers on loopback; stopped afterwards."""
    yield from _cluster(tmp_path)


@pytest.fixture
def tls_cluster(tmp_path):
    """The same with TLS, its certificate made as docs/cluster.md says (one self-signed
    certificate as the CA and every role's)."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=moelab-dask", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    yield from _cluster(tmp_path, ["--protocol", "tls", *tls], tls, {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key)})


def _cluster(tmp_path, scheduler_args=(), worker_args=(), client_env=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sched_file = tmp_path / "scheduler.json"
    procs = [_spawn([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(sched_file), *scheduler_args],
                    tmp_path / "scheduler.log", env)]

    def worker(extra=()):
        p = _spawn([str(BIN / "dask"), "worker", address(), "--nthreads", "1",
                    "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                    *worker_args, *extra],
                   tmp_path / f"worker{len(procs)}.log", env)
        procs.append(p)
        return p

    def address() -> str:
        return json.loads(sched_file.read_text())["address"]
    wait_for(lambda: sched_file.exists() and sched_file.stat().st_size > 0, timeout=60)
    cluster_ = type("Cluster", (), {})()
    cluster_.address, cluster_.worker, cluster_.procs = address(), worker, procs
    cluster_.client_env = client_env  # the Dask config a client needs (TLS), as variables
    cluster_.db = tmp_path / "lab.duckdb"
    yield cluster_
    try:
        stop_service(cluster_.db, timeout=30)
    finally:
        for p in procs:
            _kill(p)
        log = Path(f"{cluster_.db}.service.log")
        if log.exists():
            print(log.read_text()[-4000:])


def _workers(address: str, client_env: dict | None = None) -> int:
    from distributed import Client
    security = None
    if client_env:
        from distributed.security import Security
        v = "DASK_DISTRIBUTED__COMM__TLS__"
        security = Security(tls_ca_file=client_env[v + "CA_FILE"],
                            tls_client_cert=client_env[v + "CLIENT__CERT"],
                            tls_client_key=client_env[v + "CLIENT__KEY"])
    with Client(address, timeout=10, security=security) as c:
        return len(c.scheduler_info()["workers"])


def _engine_start(db, address, env=None, flag="--dask"):
    return subprocess.run([*MOELAB, "engine", "start", flag, address, "--db", str(db)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_queued_sweep_trains_on_dask_and_a_killed_worker_loses_nothing(cluster):
    workers = [cluster.worker(), cluster.worker()]
    wait_for(lambda: _workers(cluster.address) == 2, timeout=60)
    env = {**os.environ, "MOELAB_UNIT_WORK": "1"}  # one run a unit: ten tasks
    out = _engine_start(cluster.db, cluster.address, env)
    assert out.returncode == 0, out.stderr
    raw = tiny(3000, "0.3,0.4,0.5,0.6,0.7,0.8,0.85,0.9,0.93,0.96")
    with ServiceClient(cluster.db) as client:
        assert client.status()["service"]["executor"] == f"dask {cluster.address}"
        eid = client.submit(raw)
        def two_stored():
            row = experiment(client, eid)
            assert row["status"] in ("queued", "running"), row["message"]
            return (row["runs_stored"] or 0) >= 2
        wait_for(two_stored, every=0.1)
        _kill(workers[0])  # its tasks go to the other worker
        row = wait_for(lambda: finished(client, eid), timeout=180)
        assert row["status"] == "done", row["message"]
        _, counts = client.sql(f"SELECT count(*), count(DISTINCT (point, seed)) FROM runs "
                               f"WHERE experiment_id = {eid}")
        assert counts == [[10, 10]]
        _, rows = client.sql(f"SELECT r.point, w.W FROM runs r JOIN weights w USING (run_id) "
                             f"WHERE r.experiment_id = {eid} ORDER BY r.point")
    # a one-thread Dask worker trains bitwise what this process trains
    ref = run_in_memory(from_dict(raw), "cpu").chunks[0]
    order = np.argsort(ref["runs"]["point"])
    for (point, W), i in zip(rows, order, strict=True):
        assert point == ref["runs"]["point"][i]
        assert np.array_equal(np.asarray(W, np.float32), ref["weights"]["W"][i])


def test_cancel_on_dask_stops_running_tasks(cluster):
    cluster.worker()
    wait_for(lambda: _workers(cluster.address) == 1, timeout=60)
    assert _engine_start(cluster.db, cluster.address).returncode == 0
    with ServiceClient(cluster.db) as client:
        eid = client.submit(tiny(400_000))

        def training():
            r = client.status()["running"]
            return r if r and r["experiment_id"] == eid and r["step"] > 0 else None
        wait_for(training, timeout=90)
        t0 = time.monotonic()
        assert client.cancel(eid) == "cancelled"
        assert time.monotonic() - t0 < 15
        assert experiment(client, eid)["status"] == "cancelled"
        assert client.status()["running"] is None


def test_an_address_that_does_not_answer_is_one_line_and_exit_2(tmp_path):
    db = tmp_path / "lab.duckdb"
    out = _engine_start(db, "tcp://127.0.0.1:9")
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "no Dask scheduler answers" in out.stderr
    assert not Path(f"{db}.sock").exists()


def test_a_worker_with_another_moelab_is_refused(cluster, tmp_path):
    preload = tmp_path / "other_moelab.py"
    preload.write_text("import moelab.engine.executors.dask_task as t\n"
                       "t.moelab_version = lambda: '0.0.0-other'\n")
    cluster.worker(["--preload", str(preload)])
    wait_for(lambda: _workers(cluster.address) == 1, timeout=60)
    out = _engine_start(cluster.db, cluster.address)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "runs moelab 0.0.0-other" in out.stderr


def test_a_registered_custom_metric_is_computed_on_the_dask_workers(cluster, tmp_path):
    """The workers load the user's module from the path `metric add` recorded (a shared
    filesystem, as on a cluster), not from their own import path."""
    (tmp_path / "cm_dask.py").write_text(
        "import numpy as np\n\ndef top_norm(run):\n"
        "    return float(np.linalg.norm(run.W, axis=1).max())\n")
    add = subprocess.run([*MOELAB, "metric", "add", "top", "cm_dask:top_norm",
                          "--db", str(cluster.db)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert add.returncode == 0, add.stderr
    cluster.worker()
    wait_for(lambda: _workers(cluster.address) == 1, timeout=60)
    assert _engine_start(cluster.db, cluster.address).returncode == 0
    with ServiceClient(cluster.db) as client:
        eid = client.submit(tiny(200, "0.5,0.9"))
        row = wait_for(lambda: finished(client, eid), timeout=180)
        assert row["status"] == "done", row["message"]
        _, rows = client.sql(f"SELECT c.value, r.d_hidden, r.n_features, list(w.W) "
                             f"FROM custom_metrics c JOIN runs r USING (run_id) "
                             f"JOIN weights w USING (run_id) WHERE r.experiment_id = {eid} "
                             f"AND c.name = 'top' GROUP BY ALL")
    assert len(rows) == 2
    for value, m, n, Ws in rows:  # the function's value on the stored weights
        W = np.asarray(Ws, np.float64).reshape(-1, m, n)
        assert value == pytest.approx(np.linalg.norm(W, axis=1).max(), rel=1e-5)


def test_a_tls_scheduler_takes_the_certificate_from_dask_config(tls_cluster, tmp_path):
    """Dask's own config gives the service the client certificate, from a YAML file (the
    folder DASK_CONFIG names; ~/.config/dask by default) or from environment variables;
    without one, one line."""
    assert tls_cluster.address.startswith("tls://")
    tls_cluster.worker()
    wait_for(lambda: _workers(tls_cluster.address, tls_cluster.client_env) == 1, timeout=60)
    out = _engine_start(tls_cluster.db, tls_cluster.address, flag="--executor")
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "certificate" in out.stderr, out.stderr
    assert not Path(f"{tls_cluster.db}.sock").exists()
    v = "DASK_DISTRIBUTED__COMM__TLS__"
    (tmp_path / "dask-config").mkdir()
    (tmp_path / "dask-config" / "tls.yaml").write_text(
        "distributed:\n  comm:\n    tls:\n"
        f"      ca-file: {tls_cluster.client_env[v + 'CA_FILE']}\n"
        f"      client:\n        cert: {tls_cluster.client_env[v + 'CLIENT__CERT']}\n"
        f"        key: {tls_cluster.client_env[v + 'CLIENT__KEY']}\n")
    out = _engine_start(tls_cluster.db, tls_cluster.address,
                        {**os.environ, "DASK_CONFIG": str(tmp_path / "dask-config")},
                        flag="--executor")
    assert out.returncode == 0, out.stderr
    stop_service(tls_cluster.db, timeout=30)
    env = {**os.environ, **tls_cluster.client_env}
    out = _engine_start(tls_cluster.db, tls_cluster.address, env, flag="--executor")
    assert out.returncode == 0, out.stderr
    assert f"trains on dask {tls_cluster.address}" in out.stdout
    with ServiceClient(tls_cluster.db) as client:
        eid = client.submit(tiny(200, "0.5,0.9"))
        row = wait_for(lambda: finished(client, eid), timeout=180)
        assert row["status"] == "done", row["message"]
