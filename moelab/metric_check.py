"""`moelab metric add`'s check of a metric, in a child process.

Importing the module runs its code, and that code may end the process (`sys.exit`,
`os._exit`, a crash) or hang. So the module is imported, its signature checked and the
function called on a small made-up run in a child (`python -P -m moelab.metric_check FD`,
the request as JSON on stdin), which reports on the pipe FD. A child that ends without
reporting, or runs past CHECK_TIMEOUT, is one line and nothing is registered.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

CHECK_TIMEOUT = 120.0  # seconds for the import and the test call
_MAX_REPORT = 1 << 16


def module_folder(target: str, cwd: str) -> str:
    """The folder to record with the metric: the current one when its module is there (a
    module from sys.path: "")."""
    from moelab.engine.usercode import found_in
    return cwd if found_in(cwd, target.partition(":")[0].split(".")[0]) else ""


def check_in_child(name: str, target: str, options: dict, path: str) -> list[str]:
    """Check the metric in a child process; its notes (a raise on the test run). UsageError
    in one line when it cannot be used."""
    from moelab.errors import UsageError
    try:
        request = json.dumps({"name": name, "target": target, "options": options,
                              "path": path})
    except (TypeError, ValueError):
        raise UsageError(f"metric {name}: option values must be numbers, strings, booleans, "
                         "lists or tables") from None
    read_fd, write_fd = os.pipe()
    try:
        try:
            proc = subprocess.run(
                [sys.executable, "-P", "-m", "moelab.metric_check", str(write_fd)],
                input=request, capture_output=True, text=True, pass_fds=(write_fd,),
                timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise UsageError(f"metric {name}: importing {target} and calling it on a test "
                             f"run took over {CHECK_TIMEOUT:.0f} s; nothing registered") from None
        finally:
            os.close(write_fd)
        report = _read_report(read_fd)
    finally:
        os.close(read_fd)
    if report is None:
        status = (f"signal {-proc.returncode}" if proc.returncode < 0
                  else f"exit status {proc.returncode}")
        raise UsageError(f"metric {name}: {target} ended the process that imports and tries "
                         f"it ({status}) before the check finished, so nothing was "
                         "registered; a metric module must not exit the interpreter "
                         "(os._exit, a crash)")
    if report.get("error"):
        raise UsageError(str(report["error"]))
    return [str(n) for n in report.get("notes", ())]


def _read_report(fd: int) -> dict | None:
    # non-blocking: a grandchild of the module's that kept the pipe open must not hang us
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    data = b""
    try:
        while len(data) < _MAX_REPORT:
            chunk = os.read(fd, _MAX_REPORT)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    try:
        report = json.loads(data.decode().split("\n", 1)[0])
    except ValueError:
        return None
    return report if isinstance(report, dict) and report.get("done") else None


# ------------------------------------------------------------------------- the child

def _check(request: dict) -> dict:
    from moelab.engine.custom_metrics import MetricError, check_signature, load
    name, options = request["name"], request["options"]
    try:
        fn = load(request["target"], request["path"])
        check_signature(fn, options, name)
    except MetricError as err:
        return {"error": str(err)}
    return _dry_run(fn, options, name)


def _dry_run(fn, options: dict, name: str) -> dict:
    """Call the function on a small made-up MoE run: a wrong shape is refused here; a raise
    is only said (the function may need runs unlike this one)."""
    import numpy as np

    from moelab.engine.custom_metrics import MetricError, Run, shaped, wants_inputs
    rng = np.random.default_rng(0)
    run = Run(rng.normal(size=(2, 2, 5)), rng.normal(size=(2, 5)), rng.normal(size=(2, 5)),
              {"model": {"kind": "moe", "n_features": 5, "d_hidden": 2, "n_experts": 2,
                         "k": 1}})
    kwargs = dict(options)
    if wants_inputs(fn):
        kwargs["inputs"] = rng.random((64, 5)) * (rng.random((64, 5)) < 0.3)
    try:
        value = fn(run, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # user code, exit() included
        text = " ".join(str(err).split())[:300]
        return {"notes": [f"moelab: note: metric {name} raised on a test run (E=2, m=2, "
                          f"n=5): {type(err).__name__}: {text}; registered anyway"]}
    try:
        shaped(value, 2, 5, name)
    except MetricError as err:
        return {"error": f"{err} (on a test run with n_experts=2, n_features=5)"}
    return {}


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    report = _check(json.load(sys.stdin))
    os.write(fd, (json.dumps({"done": True, **report}, default=str) + "\n").encode())
    os._exit(0)  # threads the module started must not keep the check waiting


if __name__ == "__main__":
    main(sys.argv[1:])
