"""Crash trials: kill -9 the lab service (or its worker) at a random moment of a sweep,
restart, and count runs lost or stored twice (issues 10 and 11).

  python -m moelab.benchmarks.crash_trials [--trials N] [--seed S]

Each trial: a fresh database, a sweep of 8 one-run units queued on a real service, a kill -9
once a random number (0-6) of its units are stored plus a random 0-1.5 s (of the service, or
every third trial of its training worker), then a new service on the same file, which must
finish the sweep by itself.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import time
from pathlib import Path

from moelab.engine.config import with_overrides
from moelab.engine.presets import get
from moelab.engine.service.client import connect, stop_service
from moelab.engine.service.paths import pid_alive

N_RUNS = 8


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"nothing after {timeout} s")


def trial(db: Path, after: int, delay: float, kill_worker: bool) -> tuple[int, int, str]:
    """(runs lost, runs duplicated, what was killed when)."""
    raw = with_overrides(get("tms-classic").raw(True), ["train.steps=2500"],
                         ["data.sparsity=0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"])
    client = connect(db, autostart=True)
    eid = client.submit(raw)
    _wait(lambda: ((client.read("experiment", experiment_id=eid) or {}).get("runs_stored")
                   or 0) >= after, 300)
    time.sleep(delay)
    st = client.status()
    running = st.get("running") or {}
    stored = (client.read("experiment", experiment_id=eid) or {}).get("runs_stored") or 0
    if kill_worker and running.get("worker_pid"):
        victim, what = running["worker_pid"], "worker"
    else:
        victim, what = st["service"]["pid"], "service"
    os.kill(victim, signal.SIGKILL)
    client.close()
    _wait(lambda: not pid_alive(victim), 15)
    client = connect(db, autostart=True)
    row = _wait(lambda: (r := client.read("experiment", experiment_id=eid))
                and r["status"] in ("done", "failed", "cancelled") and r, 300)
    _, ((n, distinct),) = client.sql(f"SELECT count(*), count(DISTINCT (point, seed)) FROM runs "
                                     f"WHERE experiment_id = {eid}")
    client.close()
    stop_service(db, timeout=30)
    if row["status"] != "done":
        print(f"  experiment ended {row['status']}: {row['message']}")
    return N_RUNS - distinct, n - distinct, f"{what} with {stored} of {N_RUNS} runs stored"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m moelab.benchmarks.crash_trials")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ["MOELAB_UNIT_WORK"] = "1"  # one run a unit
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = random.Random(args.seed)
    lost = dup = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.trials):
            db = Path(tmp) / f"trial{i}.duckdb"
            lo, du, what = trial(db, rng.randint(0, 6), rng.uniform(0.0, 1.5),
                                 kill_worker=i % 3 == 2)
            lost, dup = lost + lo, dup + du
            print(f"trial {i + 1}: killed the {what}: {lo} runs lost, {du} duplicated")
    print(f"crash trials: {args.trials}, runs lost {lost}, runs duplicated {dup}")
    return 0 if lost == dup == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
