"""Executors by URL: executor_for(url) builds the executor a URL names (the schemes and their
parsing: urls.py, which the CLI imports without Dask)."""

from __future__ import annotations

from .urls import (  # noqa: F401 (the URL names, for callers of the registry)
    SCHEMES,
    ExecutorError,
    ExecutorSpec,
    dask_alias,
    max_local_workers,
    parse_executor,
)


def executor_for(url: str | None, log_path: str | None = None):
    """The Executor a URL names (None: local), connected and checked now, so a cluster that
    does not answer is one line at `moelab engine start`."""
    spec = parse_executor(url or "local")
    if spec.kind == "local":
        from .local import LocalExecutor
        return LocalExecutor(log_path)
    from .dask import DaskExecutor
    return DaskExecutor(spec)
