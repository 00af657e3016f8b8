"""The SQL attack cases of benchmarks/sql_stress.py (issue 25, items 5 and 7), plus the
known-bad queries of tests/test_safety_sql.py when the repository's tests are at hand."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

SECRET = "SECRET-"
SECRET_FILES = {
    "data.csv": "a,b\nSECRET-data-csv,2\n",
    "creds.json": '{"token": "SECRET-creds-json"}\n',
    "notes.txt": "SECRET-notes-txt\n",
}
SPILLED = "SECRET-spill-csv"  # planted in the database's spill folder, <db>.tmp/x.csv


@dataclass(frozen=True)
class Case:
    sql: str
    kind: str  # bomb (memory, time), reference (tables), known (the tests' list), ok (control)


def _union(n: int) -> str:
    return " UNION ALL ".join(["SELECT 1"] * n)


BOMBS = [
    "SELECT len(range(300000000))",
    "SELECT length(repeat(repeat('x',1000000),4000))",
    _union(20000),  # 200 KB of text
    _union(1500),  # under the text cap
    "SELECT len(generate_series(1, 300000000))",
    "SELECT len(range(CAST('300000000' AS BIGINT)))",
    "SELECT len(range((SELECT 300000000)))",
    "SELECT len(range(run_id * 100000000)) FROM runs",
    "SELECT length(lpad('x', 2000000000, 'y'))",
    "SELECT len(list_resize([1], 300000000))",
    "SELECT length(printf('%0900000000d', 1))",
    "SELECT length('x'.repeat(900000000))",
    "SELECT length(repeat(kind, 100000000)) FROM runs",
    "SELECT length(string_agg(repeat('x', 1000000), '')) FROM range(10000)",
    "SELECT len(list(range)) FROM range(300000000)",
    "SELECT max(len(list_transform(range(100000), lambda x: x + i))) FROM range(2000000) t(i)",
    "SELECT count(*) FROM range(100000000) a, range(100000000) b",
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "SELECT 1 FROM " + ", ".join(f"runs r{i}" for i in range(600)),
    "SELECT count(*) FROM runs r0 " + " ".join(
        f"JOIN runs r{i} ON r{i}.run_id = r{i - 1}.run_id" for i in range(1, 240)),
    "SELECT count(*) FROM " + ", ".join(f"runs r{i}" for i in range(60)) + " WHERE " + " AND ".join(
        f"r{i}.run_id = r{j}.experiment_id" for i in range(60) for j in range(i)),  # 41 KB
    "WITH RECURSIVE t(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM t WHERE len(s) < 1e12) "
    "SELECT max(len(s)) FROM t",
]

REFERENCES = [
    "PIVOT (SELECT kind, fpd FROM runs, pg_settings) ON kind USING count(*)",
    "SELECT * FROM (PIVOT (SELECT kind FROM runs, duckdb_settings) ON kind USING count(*)) p",
    "SELECT * FROM runs r, 'lab.duckdb.tmp/x.csv' f",
    "PIVOT (SELECT * FROM runs r, 'lab.duckdb.tmp/x.csv' f) ON kind USING count(*)",
    "SELECT * FROM 'lab.duckdb.tmp/x.csv'",
    "SELECT * FROM system.main.csv",
    "SELECT * FROM temp.main.x",
    "SELECT * FROM system.main.duckdb_settings",
    "SELECT * FROM pg_catalog.pg_settings",
    "SELECT * FROM pg_class",
    "SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1), pg_settings",
    "WITH x AS (SELECT * FROM pg_settings), pg_settings AS (SELECT 1) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM runs, pg_settings)",
    "PIVOT runs ON kind IN (SELECT name FROM pg_settings) USING count(*)",
    "SHOW DATABASES",
    "SELECT * FROM read_text('notes.txt')",
    "SELECT * FROM data.csv",
    "SELECT current_setting('temp_directory')",
]

CONTROLS = [
    "SELECT count(*) FROM runs",
    "PIVOT runs ON kind USING count(*)",
    "SELECT * FROM runs r, experiments e WHERE r.experiment_id = e.experiment_id",
    "WITH x AS (SELECT run_id FROM runs) SELECT count(*) FROM x, runs",
    "SELECT len(range(1000)), repeat('-', 40)",
    "SELECT count(*) FROM range(1000000)",
]


def known_bad(repo: Path) -> list[str]:
    """ATTEMPTS of tests/test_safety_sql.py (imported from the repository), else []."""
    tests = repo / "tests"
    source = tests / "test_safety_sql.py"
    if not source.exists():
        return []
    sys.path.insert(0, str(tests))
    try:
        spec = importlib.util.spec_from_file_location("_sql_attempts", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return list(module.ATTEMPTS)
    except Exception:  # no pytest, a test helper missing: the built-in cases still run
        return []
    finally:
        sys.path.remove(str(tests))


def all_cases(repo: Path) -> list[Case]:
    ours = set(BOMBS) | set(REFERENCES)
    return ([Case(q, "bomb") for q in BOMBS] + [Case(q, "reference") for q in REFERENCES]
            + [Case(q, "known") for q in known_bad(repo) if q not in ours]
            + [Case(q, "ok") for q in CONTROLS])
