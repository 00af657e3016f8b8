"""SQL stress: the attack cases of benchmarks/sql_cases.py through every path a user query
takes, counting tries and escapes (issue 25). Exits 1 on any escape or broken control.

  python -m moelab.benchmarks.sql_stress [--memory 256MB] [--timeout 5] [--cli all|sample]

Paths: the service's socket directly, the Python API (`moelab.open`) with a service and
without one (the query runs in this process), and `moelab sql` with and without a service.
An escape: a forbidden query that returns rows, a secret planted beside the database (or in
its spill folder) in any answer, a query that outlives its time limit by more than GRACE
seconds, memory growing by more than the budget plus SLACK_MB, or a service that dies.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moelab.benchmarks.sql_cases import SECRET, SECRET_FILES, SPILLED, Case, all_cases

GRACE = 5.0  # seconds past the time limit
SLACK_MB = 256  # memory past the budget (one batch of rows, allocator slack)
CLI = [sys.executable, "-m", "moelab.cli"]


def _peak_mb(pid: int | str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak(pid: int | str) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM starts again from the current resident size
    except OSError:
        pass


def _socket_ask(db: Path, sql: str) -> tuple[bool, str]:
    from moelab.engine.service.paths import ServicePaths
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(ServicePaths.of(db).socket))
        sock.sendall(json.dumps({"op": "sql", "args": {"query": sql}}).encode() + b"\n")
        reply = json.loads(sock.makefile("rb").readline() or b"{}")
    return bool(reply.get("ok")), json.dumps(reply)[:20000]


def _api_ask(db: Path, sql: str) -> tuple[bool, str]:
    import moelab
    try:
        with moelab.open(db) as lab:
            table = lab.sql(sql, format="arrow")
    except Exception as err:  # a refusal is an error of moelab's: ClientError, StoreError
        return False, f"{type(err).__name__}: {err}"
    return True, str(table.slice(0, 20).to_pylist())


def _cli_ask(db: Path, sql: str, cwd: Path) -> tuple[bool, str, float]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*CLI, "sql", sql, "--db", str(db)], stdout=out, stderr=err,
                                cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace") + err.read().decode(errors="replace")
    one_line = proc.returncode == 2 and len(text.strip().splitlines()) == 1
    if proc.returncode not in (0, 2) or (proc.returncode == 2 and not one_line):
        text = f"exit {proc.returncode}, not one line: {text[-300:]}"
        return True, text, usage.ru_maxrss / 1024  # counted as an escape: no clear refusal
    return proc.returncode == 0, text, usage.ru_maxrss / 1024


class Stress:
    def __init__(self, folder: Path, memory_mb: int, timeout: float, cli: str):
        self.folder, self.memory_mb, self.timeout, self.cli = folder, memory_mb, timeout, cli
        self.tries = self.escapes = self.broken = 0
        self.lines: list[str] = []
        self.by_path: dict[str, list[int]] = {}

    def judge(self, path: str, case: Case, ok: bool, text: str, seconds: float,
              grew_mb: float, alive: bool = True) -> None:
        self.tries += 1
        counts = self.by_path.setdefault(path, [0, 0])
        counts[0] += 1
        why = []
        if case.kind == "ok":
            if not ok:
                self.broken += 1
                self.lines.append(f"BROKEN  {path}: {case.sql[:80]!r}: {text[:200]}")
            return
        if ok:
            why.append("returned rows")
        if SECRET in text or SPILLED in text:
            why.append("a secret came back")
        if seconds > self.timeout + GRACE:
            why.append(f"took {seconds:.1f} s")
        if grew_mb > self.memory_mb + SLACK_MB:
            why.append(f"memory grew {grew_mb:.0f} MB")
        if not alive:
            why.append("the service died")
        if why:
            self.escapes += 1
            counts[1] += 1
            self.lines.append(f"ESCAPE  {path} [{case.kind}] {case.sql[:100]!r}: "
                              f"{', '.join(why)}; {text[:160]}")

    def run_service_paths(self, db: Path, cases: list[Case], pid: int) -> None:
        from moelab.engine.service.paths import pid_alive
        for path, ask in (("socket", _socket_ask), ("api+service", _api_ask)):
            for case in cases:
                _reset_peak(pid)
                base = _peak_mb(pid)
                started = time.monotonic()
                try:
                    ok, text = ask(db, case.sql)
                except (OSError, ValueError) as err:
                    ok, text = False, f"{type(err).__name__}: {err}"
                alive = pid_alive(pid)
                grew = _peak_mb(pid) - base if alive else 0.0
                self.judge(path, case, ok, text, time.monotonic() - started, grew, alive)
                if not alive:
                    return

    def run_direct_api(self, db: Path, cases: list[Case]) -> None:
        for case in cases:
            _reset_peak("self")
            base = _peak_mb("self")
            started = time.monotonic()
            ok, text = _api_ask(db, case.sql)
            self.judge("api-direct", case, ok, text, time.monotonic() - started,
                       _peak_mb("self") - base)

    def run_cli(self, path: str, db: Path, cases: list[Case]) -> None:
        _, _, baseline = _cli_ask(db, "SELECT 1", self.folder)
        for case in cases:
            started = time.monotonic()
            ok, text, peak = _cli_ask(db, case.sql, self.folder)
            self.judge(path, case, ok, text, time.monotonic() - started, peak - baseline)


def _plant(folder: Path, db: Path) -> None:
    for name, text in SECRET_FILES.items():
        (folder / name).write_text(text)
    spill = Path(f"{db}.tmp")
    spill.mkdir(mode=0o700, exist_ok=True)
    (spill / "x.csv").write_text(f"a\n{SPILLED}\n")


def _make_lab(db: Path) -> None:
    from moelab.db import open_store
    from moelab.db.sample import synthetic_chunk
    with open_store(db) as store:
        exp = store.create_experiment("stress", None, "{}", status="done")
        store.write_runs(exp, [synthetic_chunk(6)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moelab.benchmarks.sql_stress")
    parser.add_argument("--memory", default="256MB", help="MOELAB_SQL_MEMORY for the run")
    parser.add_argument("--timeout", type=float, default=5.0, help="MOELAB_SQL_TIMEOUT")
    parser.add_argument("--cli", choices=("all", "sample"), default="sample",
                        help="`moelab sql` takes a second a call: all cases, or ours only")
    args = parser.parse_args(argv)
    os.environ.update({"MOELAB_SQL_MEMORY": args.memory, "MOELAB_SQL_TIMEOUT": str(args.timeout)})
    from moelab.db.sqlmemory import sql_memory
    from moelab.engine.service.client import stop_service
    from moelab.engine.service.launch import start_service

    repo = Path(__file__).resolve().parent.parent
    cases = all_cases(repo)
    # A command-line argument holds at most 128 KB (Linux): longer cases skip the CLI.
    cli_cases = [c for c in cases if len(c.sql) < 120_000
                 and (args.cli == "all" or c.kind != "known")]
    with tempfile.TemporaryDirectory(prefix="moelab-sqlstress-") as tmp:
        folder = Path(tmp)
        served, direct = folder / "lab.duckdb", folder / "direct.duckdb"
        for db in (served, direct):
            _make_lab(db)
            _plant(folder, db)
        stress = Stress(folder, sql_memory() >> 20, args.timeout, args.cli)
        started = time.monotonic()
        os.chdir(folder)  # relative file names in queries resolve here, beside the secrets
        info = start_service(served)
        try:
            stress.run_service_paths(served, cases, info["pid"])
            stress.run_cli("cli+service", served, cli_cases)
        finally:
            stop_service(served, timeout=30)
        stress.run_direct_api(direct, cases)
        stress.run_cli("cli-direct", direct, cli_cases)
    print(f"sql stress: {len(cases)} cases ({sum(c.kind == 'known' for c in cases)} from "
          f"tests/test_safety_sql.py), memory {args.memory}, timeout {args.timeout:g} s, "
          f"{time.monotonic() - started:.0f} s")
    for path, (tries, escapes) in stress.by_path.items():
        print(f"  {path:<12} {tries:>5} tries {escapes:>3} escapes")
    print(f"  total        {stress.tries:>5} tries {stress.escapes:>3} escapes, "
          f"{stress.broken} broken controls")
    for line in stress.lines:
        print(line)
    return 1 if stress.escapes or stress.broken else 0


if __name__ == "__main__":
    sys.exit(main())
