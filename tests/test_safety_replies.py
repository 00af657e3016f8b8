"""Issue 25 items 4 and 13: another local user can neither forge the answers a client reads
(the Python API's Arrow reply files) nor pose as the lab service (the socket's peer)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from safety_support import as_other, make_lab, running_service

import moelab
from moelab.engine.client import ClientError
from moelab.engine.service import client as service_client

# Run as the other user: replace every reply file in FOLDER with FORGED (a valid Arrow file
# whose count is 999), as fast as it can, until killed.
SWAPPER = r"""
import os, sys, time
folder, forged = sys.argv[1], open(sys.argv[2], "rb").read()
os.makedirs(folder, exist_ok=True)
os.chmod(folder, 0o777)
open(os.path.join(folder, ".ready"), "w").close()
done = set()
while True:
    for name in os.listdir(folder):
        if name.endswith(".arrow") and name not in done:
            tmp = os.path.join(folder, ".x")
            with open(tmp, "wb") as fh:
                fh.write(forged)
            os.replace(tmp, os.path.join(folder, name))
            done.add(name)
    time.sleep(0.0002)
"""


def _forged_reply(path) -> None:
    import pyarrow as pa
    table = pa.table({"n": pa.array([999], pa.int64())})
    with pa.OSFile(str(path), "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
        writer.write_table(table)
    os.chmod(path, 0o644)


def test_a_reply_folder_made_first_by_another_user_forges_no_answer(other_user, shared,
                                                                    monkeypatch):
    db = make_lab(shared / "lab.duckdb", n_runs=6)
    folder = shared / f"moelab-arrow-{os.getuid()}"  # the name the service would use
    _forged_reply(shared / "forged.arrow")
    (shared / "swapper.py").write_text(SWAPPER)
    os.chmod(shared / "swapper.py", 0o644)
    swapper = subprocess.Popen(
        ["setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}",
         "--clear-groups", "/usr/bin/python3", str(shared / "swapper.py"), str(folder),
         str(shared / "forged.arrow")])
    try:
        deadline = time.monotonic() + 20
        while not (folder / ".ready").exists():
            assert swapper.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert folder.stat().st_uid == other_user.pw_uid
        with running_service(db, env={"TMPDIR": str(shared)}), moelab.open(db) as lab:
            counts = [lab.sql("SELECT count(*) AS n FROM runs", format="arrow")
                      .column("n")[0].as_py() for _ in range(25)]
            log = (shared / "lab.duckdb.service.log").read_text()
    finally:
        swapper.kill()
        swapper.wait()
    assert counts == [6] * 25  # never the forged 999
    assert "moelab-arrow" in log and "private folder" in log  # said why, in the log
    assert not [p for p in folder.iterdir() if p.name.endswith(".arrow")
                and p.stat().st_uid == os.getuid()]  # no reply of ours went there


def test_a_linked_reply_folder_deletes_nothing_it_points_at(other_user, shared, tmp_path,
                                                            monkeypatch):
    """A link planted at the reply folder's name must not lead the sweep of old replies
    to the owner's own .arrow files elsewhere."""
    from moelab.db import open_read_only
    from moelab.db.reads import dynamics as rd
    victim = tmp_path / "results"
    victim.mkdir()
    precious = victim / "results.arrow"
    _forged_reply(precious)
    os.utime(precious, (0, 0))  # old: the sweep would take it
    folder = shared / f"moelab-arrow-{os.getuid()}"
    as_other(other_user, "ln", "-s", str(victim), str(folder))
    assert folder.is_symlink()
    monkeypatch.setattr("tempfile.tempdir", str(shared))
    monkeypatch.setattr(rd, "_fallback_folder", None, raising=False)
    db = make_lab(tmp_path / "lab.duckdb", n_runs=4)
    with open_read_only(db) as store:
        reply = rd.arrow_file(store, "SELECT count(*) AS n FROM runs")
    assert precious.exists()
    assert not reply["path"].startswith(str(folder) + os.sep)
    assert rd.read_arrow_file(reply).column("n").to_pylist() == [4]
    assert not list(victim.glob("moelab-*.arrow"))  # nothing of ours written through it


def test_a_reply_path_outside_a_private_folder_is_refused(shared, tmp_path):
    """The reader trusts no path: a reply file in a folder others may enter is not read."""
    from moelab.db.filemodes import UnsafeFile
    from moelab.db.reads import dynamics as rd
    name = "moelab-" + "ab" * 12 + ".arrow"
    _forged_reply(shared / name)
    with pytest.raises(UnsafeFile, match="other users"):
        rd.read_arrow_file({"path": str(shared / name)})
    with pytest.raises(UnsafeFile, match="not an Arrow reply"):
        rd.read_arrow_file({"path": str(tmp_path / "lab.duckdb")})
    assert (shared / name).exists()  # refused, not deleted


# -- item 13: the client checks who serves the socket ----------------------------------------

def test_peer_uid_of_a_connected_socket():
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("no SO_PEERCRED on this platform")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert service_client.peer_uid(a) == os.getuid()
        service_client.check_server(a, "pair")  # ours: accepted


def test_a_server_of_another_uid_is_refused(monkeypatch):
    if not hasattr(socket, "SO_PEERCRED"):
        pytest.skip("no SO_PEERCRED on this platform")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 4242)  # as if the peer were another user
    with a, b, pytest.raises(ClientError, match="runs as .* not you"):
        service_client.check_server(a, "pair")


# Run as the other user: a fake lab service that answers every request.
FAKE_SERVER = r"""
import os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o777)
srv.listen(8)
open(path + ".ready", "w").close()
while True:
    conn, _ = srv.accept()
    f = conn.makefile("rb")
    for line in f:
        conn.sendall(b'{"ok": true, "result": "forged"}\n')
"""


def test_a_socket_swapped_after_the_owner_check_is_refused(other_user, shared, monkeypatch):
    """The client checks the socket file's owner, then connects by path; in a folder others
    may write, the other user swaps their own server's socket in between. The connected
    socket's peer uid gives them away."""
    db = shared / "lab.duckdb"
    paths = service_client.ServicePaths.of(db)
    ours = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.bind(str(paths.socket))  # a socket file we own, as a service of ours would leave
    evil = shared / "evil.sock"
    (shared / "fake.py").write_text(FAKE_SERVER)
    os.chmod(shared / "fake.py", 0o644)
    server = subprocess.Popen(
        ["setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}",
         "--clear-groups", "/usr/bin/python3", str(shared / "fake.py"), str(evil)])
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"{evil}.ready"):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        real_lstat = type(paths.socket).lstat

        def lstat_then_swap(self, *a, **kw):
            st = real_lstat(self, *a, **kw)
            if self == paths.socket:  # the other user's rename, right after our check
                as_other(other_user, "mv", "-f", str(evil), str(paths.socket))
            return st

        monkeypatch.setattr(type(paths.socket), "lstat", lstat_then_swap)
        with pytest.raises(ClientError, match="runs as user moelab-other, not you"):
            service_client.ServiceClient(db)
    finally:
        ours.close()
        server.kill()
        server.wait()

