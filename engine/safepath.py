"""Python processes of ours never put the current folder on sys.path.

`python -m X` and `python -c ...` put the current folder first on sys.path, so a `duckdb.py`
or `numpy.py` that another user left in /tmp, a shared project folder or the database's
folder would run as you. The lab starts its own processes with `-P` (PYTHONSAFEPATH), which
leaves it off; multiprocessing's spawned workers copy that flag, and for a parent started
without it (a foreground `moelab run`) `spawning_without_cwd()` sets it while they start.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()


@contextlib.contextmanager
def spawning_without_cwd() -> Iterator[None]:
    """Around a multiprocessing 'spawn' start: the child gets PYTHONSAFEPATH=1, so its
    `python -c` start does not import from the current folder before the parent's sys.path
    replaces its own. The parent's environment is as before afterwards."""
    if sys.flags.safe_path:  # spawn passes -P on by itself
        yield
        return
    with _lock:
        saved = os.environ.get("PYTHONSAFEPATH")
        os.environ["PYTHONSAFEPATH"] = "1"
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("PYTHONSAFEPATH", None)
            else:
                os.environ["PYTHONSAFEPATH"] = saved
