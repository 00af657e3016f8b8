"""`moelab queue`, `moelab status`, `moelab cancel`, `moelab engine start|stop|status`.

The service's client path imports no torch and no duckdb (`moelab status` answers in well
under 200 ms while a sweep trains); only the no-service fallback reads the file directly.
"""

from __future__ import annotations

import json
import sys

from moelab.cmdline import Parser, add_db, db_path
from moelab.errors import UsageError


def register(sub, groups) -> None:
    from moelab.configargs import add_config_args
    q = sub.add_parser("queue", help="queue a preset or config on the lab service; prints "
                       "the experiment id at once")
    add_config_args(q)
    q.add_argument("--name", help="the experiment's name (default: the preset's)")
    q.add_argument("--control", nargs="?", const=0, type=int, metavar="ID",
                   help="also queue a seed control: the same config with other seeds, named "
                   "'NAME (control of N)', which `moelab compare` uses as the noise floor; "
                   "--control ID alone queues one for stored experiment ID")
    add_db(q)
    q.set_defaults(func=queue)

    st = sub.add_parser("status", help="the queue, the running experiment, the latest "
                        "finished")
    st.add_argument("--json", action="store_true", help="the whole status as JSON")
    add_db(st)
    st.set_defaults(func=status)

    c = sub.add_parser("cancel", help="drop a queued experiment, or stop a running one at "
                       "its next step")
    c.add_argument("experiment_id", type=int, metavar="ID")
    add_db(c)
    c.set_defaults(func=cancel)

    e = sub.add_parser("engine", help="the lab service: start, stop, status")
    esub = e.add_subparsers(dest="action", parser_class=Parser, required=True,
                            metavar="ACTION")
    for action, fn, text in (
            ("start", engine_start, "start the service for the database, detached"),
            ("stop", engine_stop, "stop it (a running experiment runs again at next start)"),
            ("status", engine_status, "whether it runs, where, and its log")):
        a = esub.add_parser(action, help=text)
        add_db(a)
        a.set_defaults(func=fn)
        if action == "start":
            where = a.add_mutually_exclusive_group()
            where.add_argument("--executor", metavar="URL",
                               help="where units train: local (default), dask+local:N (N "
                                    "local Dask workers), dask://HOST:PORT or tls://HOST:PORT "
                                    "(a Dask scheduler; needs the dask extra; docs/cluster.md)")
            where.add_argument("--dask", metavar="ADDRESS",
                               help="the same as --executor with a Dask scheduler's address "
                                    "(tcp://host:8786, tls://host:8786) or local:N")


# -- queue / status / cancel ----------------------------------------------------------------

def queue(args) -> int:
    from moelab.queue_ops import queue_special
    special = queue_special(args, db_path(args), _service)  # crosscoder preset, --control ID
    if special is not None:
        return special
    from moelab.configargs import check_size, raw_config_from_args
    raw, cfg = raw_config_from_args(args)
    path = db_path(args)
    check_size(cfg, path, args.yes)  # refused before the sweep is expanded
    from moelab.engine.sweep import expand
    n_models = len(expand(cfg))  # every point valid, before a service starts
    if args.control is not None:  # checked before anything is queued
        from moelab.control import control_raw
        ctrl_raw = control_raw(raw, cfg)
    with _service(path) as client:
        eid = client.submit(raw, preset=args.preset, quick=args.quick, name=args.name)
        if args.control is not None:
            from moelab.queue_ops import submit_control
            submit_control(client, ctrl_raw, cfg, args.name or cfg.name, eid)
    print(eid)
    _note(f"queued experiment {eid} ({args.name or cfg.name}, {n_models} models); "
          "follow it with `moelab status`")
    return 0


def status(args) -> int:
    from moelab.engine.service.client import ServiceClient, connect
    path = db_path(args)
    client = connect(path, autostart=False) if path.exists() else None
    try:
        if isinstance(client, ServiceClient):
            st = client.status()
        else:
            from moelab.engine.service.querylog import left_behind
            st = _status_from_file(client)
            st["stopped_in_query"] = left_behind(path)  # one took the last service down
    finally:
        if client is not None:
            client.close()
    from moelab.db.wal import copies  # no duckdb: the framing check is plain Python
    st["damaged_logs"] = [str(p) for p in copies(path)]
    if args.json:
        print(json.dumps(st, indent=1, default=str))
    else:
        print(format_status(st, path))
    return 0


def cancel(args) -> int:
    # Never starts a service: one started here would begin training the queue at once.
    from moelab.engine.service.client import ServiceClient, connect
    path, eid = db_path(args), args.experiment_id
    if not path.exists():
        raise UsageError(f"no database at {path}; nothing to cancel")
    with connect(path, autostart=False) as client:
        if isinstance(client, ServiceClient):
            new = client.cancel(eid)
        else:
            row = client.read("experiment", experiment_id=eid)
            if row is None:
                raise UsageError(f"no experiment with id {eid} in {path}")
            raise UsageError(f"no lab service runs for {path}, so nothing trains now; "
                             f"experiment {eid} is {row['status']}" + (
                                 " and would run at the next start: start the service "
                                 "(`moelab engine start`) and cancel it then"
                                 if row["status"] in ("queued", "interrupted") else ""))
    print(f"experiment {eid}: {new}")
    return 0


# -- engine ---------------------------------------------------------------------------------

def engine_start(args) -> int:
    from moelab.engine.executors.registry import dask_alias, parse_executor
    from moelab.engine.service.client import ServiceClient, ServiceUnavailable
    from moelab.engine.service.launch import AlreadyRunning, start_service
    url = dask_alias(args.dask) if args.dask else args.executor
    wanted = parse_executor(url) if url else None  # a bad URL: one line, nothing started
    path = db_path(args)
    try:
        with ServiceClient(path) as client:
            service = client.status()["service"]
        print(f"a lab service already runs for {path}: {_where(service)}")
        if wanted and service.get("executor") != wanted.name:
            raise UsageError(f"it trains on {service.get('executor') or 'local'}, not on "
                             f"{wanted.name}: `moelab engine stop`, then start it again "
                             f"with --executor {url}")
        return 0
    except ServiceUnavailable:
        pass
    try:
        info = start_service(path, executor=url)
    except AlreadyRunning as err:
        print(str(err))
        return 0
    print(f"started the lab service for {path}: {_where(info)}")
    return 0


def engine_stop(args) -> int:
    from moelab.engine.service.client import stop_service
    print(stop_service(db_path(args)))
    return 0


def engine_status(args) -> int:
    from moelab.engine.service.client import ServiceClient, ServiceUnavailable
    path = db_path(args)
    try:
        with ServiceClient(path) as client:
            st = client.status()
    except ServiceUnavailable:
        print(f"no lab service runs for {path}")
        return 1
    s = st["service"]
    counts = st.get("counts") or {}
    print(f"running for {s['db']}: {_where(s)}, up {_duration(s.get('uptime_seconds'))}; "
          f"{counts.get('queued', 0)} queued, "
          f"{'training #' + str(st['running']['experiment_id']) if st['running'] else 'idle'}")
    return 0


# -- helpers --------------------------------------------------------------------------------

def _service(path):
    """A client of the running service, starting one when absent."""
    from moelab.engine.service.client import connect
    return connect(path, autostart=True)


def _status_from_file(client) -> dict:
    """The same shape as the service's status, read from the file when no service runs."""
    if client is None:
        return {"service": None, "running": None, "queued": [], "recent": [],
                "foreground": [], "counts": {}}
    from moelab.engine.service.owners import foreground_alive
    running = client.read("service_running")
    foreground = [r for r in running if (r.get("owner") or "").startswith("foreground")]
    return {"service": None, "running": None, "queued": client.read("service_queue"),
            "recent": client.read("service_recent"),
            "foreground": [r for r in foreground if foreground_alive(r.get("owner"))],
            # Its process died (kill -9, a crash) before it could say so: the next service
            # resumes it, as it does any run a dead process owned.
            "stale_running": [r for r in running if r not in foreground
                              or not foreground_alive(r.get("owner"))],
            "counts": client.read("service_counts")}


def format_status(st: dict, path) -> str:
    lines = []
    s = st.get("service")
    if s:
        lines.append(f"service   pid {s['pid']}, up {_duration(s.get('uptime_seconds'))}, "
                     f"log {s['log']}")
    else:
        waiting = len(st.get("queued") or []) + len(st.get("stale_running") or [])
        lines.append(f"service   not running for {path}" + (
            f"; {waiting} experiment(s) wait: `moelab engine start` runs them" if waiting
            else ""))
    for copy in st.get("damaged_logs") or []:
        lines.append(f"damaged   a write-ahead log could not be replayed whole; it is kept at "
                     f"{copy} (docs/service.md: `A damaged write-ahead log`); remove it once "
                     "done with it")
    if st.get("stopped_in_query"):
        lines.append(f"note      {st['stopped_in_query']}")
    r = st.get("running")
    if r:
        lines.append("running   " + running_line(r))
    for f in st.get("foreground") or []:
        lines.append(f"running   #{f['experiment_id']} {f['name']}: {f['owner']}"
                     f"{_stored(f)}")
    for f in st.get("stale_running") or []:
        who = f"its process ({f['owner']}) is gone" if f.get("owner") else "nobody trains it"
        lines.append(f"interrupted #{f['experiment_id']} {f['name']}: {who}{_stored(f)}; "
                     "it resumes when the service starts (`moelab engine start`)")
    queued = st.get("queued") or []
    if queued:
        shown = ", ".join(f"#{q['experiment_id']} {q['name']}"
                          + (f" (interrupted{_stored(q, ', ')})"
                             if q["status"] == "interrupted" else "")
                          for q in queued[:8])
        more = f", … {len(queued) - 8} more" if len(queued) > 8 else ""
        lines.append(f"queued    {len(queued)}: {shown}{more}")
    elif s:
        lines.append("queued    none")
    for i, e in enumerate(st.get("recent") or []):
        head = "finished  " if i == 0 else "          "
        lines.append(f"{head}#{e['experiment_id']} {e['status']:<9} {e['name']}: "
                     f"{e.get('message') or ''}  [{(e.get('finished_at') or '')[:19]}]")
    return "\n".join(lines)


def running_line(r: dict) -> str:
    done, total = r.get("work_done") or 0, r.get("work_total") or 0
    if not total:
        return (f"#{r['experiment_id']} {r['name']}: starting ({r['n_models']} models, "
                f"{_duration(r.get('elapsed_seconds'))} so far)")
    loss = r.get("loss")
    step = (f"step {r['step']}/{r['steps']}, " if r.get("steps")
            else "starting it, ")  # before the unit's first step: no step or loss yet
    return (f"#{r['experiment_id']} {r['name']}: {100 * done / total:.0f}%, "
            f"unit {r['batch']}/{r['n_batches']} {step}"
            f"{r['models_done']}/{r['n_models']} runs stored, "
            f"loss {'?' if loss is None else f'{loss:.4g}'}, "
            f"ETA {_duration(r.get('eta_seconds'))}, {r.get('device') or '?'}"
            + (" (stopping)" if r.get("stopping") else "")
            + (f"\n          {r['notice']}" if r.get("notice") else ""))


def _stored(row: dict, sep: str = "; ") -> str:
    n, total = row.get("runs_stored") or 0, row.get("n_runs")
    return f"{sep}{n} of {total} runs stored" if total else ""


def _where(info: dict) -> str:
    trains = f", trains on {info['executor']}" if info.get("executor") else ""
    return f"pid {info.get('pid')}, socket {info.get('socket')}, log {info.get('log')}{trains}"


def _duration(seconds) -> str:
    if seconds is None:
        return "?"
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
