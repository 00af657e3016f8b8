"""A `dask+local:N` cluster accepts only its owner (issue 25): another local user who finds
its ports (they are in the service log, and anyone reads /proc/net/tcp) can neither connect
nor run code as the owner, and no dashboard or other page is served (Dask used to open one
on :8787 although none was asked for)."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest
from safety_support import as_other, cli

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from moelab.engine.service.paths import ServicePaths, pid_alive, read_info  # noqa: E402

# What the other user runs against every port the service's processes listen on: a Dask
# client over plain TCP and over TLS with a certificate of its own, each submitting code
# that leaves a marker file; then the pages a dashboard or Dask's HTTP server would serve.
ATTACK = r"""
import json, os, signal, sys, urllib.request
from distributed import Client
from distributed.security import Security
ports, marker = json.loads(sys.argv[1]), sys.argv[2]

class Late(Exception):
    pass

def late(*_):
    raise Late()

signal.signal(signal.SIGALRM, late)  # a Dask handshake with an HTTP port never ends

def plant(path):
    with open(path, "w") as f:
        f.write(str(os.getuid()))
    return "ran"

report = {"connected": [], "ran": [], "pages": []}
for port in ports:
    for addr, sec in ((f"tcp://127.0.0.1:{port}", None),
                      (f"tls://127.0.0.1:{port}", Security.temporary())):
        signal.alarm(6)
        try:
            with Client(addr, security=sec, timeout=4) as c:
                report["connected"].append(addr)
                report["ran"].append(c.submit(plant, marker, pure=False).result(timeout=30))
        except Exception:
            pass
        finally:
            signal.alarm(0)
    for page in ("/", "/status", "/info/main/workers.html", "/health", "/metrics"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=3) as r:
                report["pages"].append(f"{port}{page} {r.status}")
        except Exception:
            pass
print("REPORT " + json.dumps(report))
"""


def _other_python(user, home: Path) -> tuple[list[str], dict]:
    """A Python 3.11 the other user can run with this venv's packages on its path (the
    venv's own interpreter may sit in a folder only its owner enters, e.g. /root)."""
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": site}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        probe = as_other(user, python, "-c", "import distributed, cryptography", check=False,
                         env=env, timeout=120)
        if probe.returncode == 0:
            return [python], env
    pytest.skip("no Python with this venv's packages runs as the other user")


def _listening_ports(pid: int) -> set[int]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    ports = set()
    for p in procs:
        for conn in p.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                ports.add(conn.laddr.port)
    return ports


def _stop(db: Path) -> None:
    live = read_info(ServicePaths.of(db))
    cli("engine", "stop", db=db, timeout=120)
    if live and pid_alive(live["pid"]):
        os.kill(live["pid"], 9)


def test_a_local_cluster_runs_no_code_for_another_user_and_serves_no_dashboard(
        tmp_path, other_user, shared):
    python, env = _other_python(other_user, shared)
    (shared / "attack.py").write_text(ATTACK)
    (shared / "attack.py").chmod(0o644)  # readable by the other user whatever our umask
    marker = shared / "ran-as-owner"
    db = tmp_path / "lab.duckdb"
    # --dask is kept as an alias of --executor, so the same start reaches the old code too
    start = cli("engine", "start", "--dask", "local:1", db=db, timeout=120)
    assert start.returncode == 0, start.stderr
    try:
        info = read_info(ServicePaths.of(db))
        ports = _listening_ports(info["pid"])
        assert 8787 not in ports  # no dashboard on Dask's default port
        log = Path(f"{db}.service.log").read_text()
        assert "Scheduler at:" in log  # the address others see: it must be useless to them
        attack = as_other(other_user, *python, str(shared / "attack.py"),
                          json.dumps(sorted(ports)), str(marker), check=False, env=env,
                          timeout=300, cwd=shared, text=True)
        line = [x for x in attack.stdout.splitlines() if x.startswith("REPORT ")]
        assert line, attack.stderr[-3000:]
        report = json.loads(line[0][len("REPORT "):])
        assert not marker.exists(), "another user ran code as the lab's owner"
        assert report["ran"] == [] and report["connected"] == [], report
        assert report["pages"] == [], report  # no dashboard, info, health or metrics pages
    finally:
        _stop(db)


def test_the_owner_still_trains_on_its_private_cluster(tmp_path):
    """The TLS cluster works for its owner: units train there (what the lock must not
    break)."""
    from service_helpers import finished, tiny, wait_for

    from moelab.engine.service.client import ServiceClient
    db = tmp_path / "lab.duckdb"
    start = cli("engine", "start", "--executor", "dask+local:1", db=db, timeout=120)
    assert start.returncode == 0, start.stderr
    assert "trains on dask local:1" in start.stdout
    try:
        with ServiceClient(db) as client:
            eid = client.submit(tiny(200, "0.5,0.9"))
            row = wait_for(lambda: finished(client, eid), timeout=180)
            assert row["status"] == "done", row["message"]
    finally:
        _stop(db)
