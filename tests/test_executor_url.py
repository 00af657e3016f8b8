"""Executors by URL (issues 21 and 25): one `--executor URL` resolved by one function, with
`--dask` kept as an alias; a bad URL or a local worker count beyond the machine is one line
and exit status 2 before any service starts (local:100000 used to hang for 60 s and leave a
1 GB service holding the database)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from safety_support import cli, one_clear_line, running_service

from moelab.engine.executors.registry import (
    ExecutorError,
    dask_alias,
    max_local_workers,
    parse_executor,
)
from moelab.engine.service.paths import ServicePaths


@pytest.mark.parametrize(("url", "kind", "name", "address", "workers"), [
    ("local", "local", "local", "", 0),
    ("dask+local:1", "dask-local", "dask local:1", "", 1),
    ("local:1", "dask-local", "dask local:1", "", 1),
    ("dask://head:8786", "dask", "dask tcp://head:8786", "tcp://head:8786", 0),
    ("tcp://127.0.0.1:8786", "dask", "dask tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786", 0),
    ("tls://10.1.2.3:34567", "dask", "dask tls://10.1.2.3:34567", "tls://10.1.2.3:34567", 0),
    ("dask+tls://head:8786", "dask", "dask tls://head:8786", "tls://head:8786", 0),
])
def test_a_url_names_one_executor(url, kind, name, address, workers):
    spec = parse_executor(url)
    assert (spec.kind, spec.name, spec.address, spec.workers) == (kind, name, address, workers)


def test_the_dask_alias_takes_what_it_took_before():
    assert dask_alias("local:2") == "local:2"
    assert dask_alias("tcp://head:8786") == "tcp://head:8786"
    assert dask_alias("head:8786") == "tcp://head:8786"  # Dask's own default transport


@pytest.mark.parametrize("url", [
    "", "foo", "ray://head:1", "dask://head", "dask://:8786", "tcp://head:99999",
    "dask+local:0", "dask+local:-1", "dask+local:two", "local:", "dask+local:²",
    f"dask+local:{max_local_workers() + 1}", "dask+local:100000", "dask+local:" + "9" * 5000,
])
def test_a_bad_url_is_one_line(url):
    with pytest.raises(ExecutorError) as err:
        parse_executor(url)
    text = str(err.value)
    assert "\n" not in text and len(text) < 300, text


@pytest.mark.parametrize("args", [
    ("--dask", "local:100000"),
    ("--executor", "dask+local:100000"),
    ("--executor", "foo"),
    ("--executor", "dask://nohost"),
    ("--executor=dask+local:-1",),
])
def test_engine_start_refuses_at_once_and_leaves_no_service(tmp_path, args):
    db = tmp_path / "lab.duckdb"
    t0 = time.monotonic()
    out = cli("engine", "start", *args, db=db, timeout=30)
    err = one_clear_line(out)
    assert time.monotonic() - t0 < 20
    if "100000" in args[-1]:
        assert f"at most dask+local:{max_local_workers()}" in err
    paths = ServicePaths.of(db)
    # refused before anything is written beside the database: no log, lock or socket
    assert not any(Path(p).exists() for p in (paths.log, paths.info, paths.socket, db))


def test_a_running_service_on_another_executor_is_one_line(tmp_path):
    db = tmp_path / "lab.duckdb"
    with running_service(db):
        err = one_clear_line(cli("engine", "start", "--executor", "dask+local:1", db=db))
        assert "trains on local, not on dask local:1" in err
        assert cli("engine", "start", "--executor", "local", db=db).returncode == 0
