"""SQL cannot reach files or settings (issue 11, item 2): a table of attempts of every class,
through the lab service, the TUI's query path and the file read directly; each wall alone
(DuckDB's own, the parser guard) refuses the file reads; ordinary queries still work.

Keep the tables growing: every new way found to reach outside the database goes in here.
"""

from __future__ import annotations

import duckdb
import pytest
from safety_support import (
    SECRET,
    SECRET_FILES,
    cli,
    make_lab,
    one_clear_line,
    plant_secrets,
    running_service,
)

from moelab.db import QueryRefused, StoreError, check_read_only, open_store, run_read_query
from moelab.engine.client import ClientError, DirectClient
from moelab.engine.service.client import ServiceClient

FILES = [*SECRET_FILES, "blob.parquet"]
DOTTED = ["data.csv", "creds.json", "blob.parquet", "t.tsv", "backup.data.csv"]

# Forms a file name can hide in; {f} is a name as written (dotted, or quoted).
FORMS = [
    "SELECT * FROM {f}",
    "FROM {f}",
    "SELECT * FROM runs JOIN {f} ON true",
    "SELECT * FROM runs, {f}",
    "SELECT (SELECT count(*) FROM {f})",
    "SELECT run_id FROM runs LIMIT (SELECT count(*) FROM {f})",
    "SELECT * FROM runs WHERE run_id IN (SELECT 1 FROM {f})",
    "WITH x AS (FROM {f}) SELECT * FROM x",
    "DESCRIBE {f}",
    "SUMMARIZE {f}",
    "UNPIVOT {f} ON COLUMNS(*) INTO NAME k VALUE v",
    "PIVOT {f} ON a USING count(*)",
    "SELECT * FROM (PIVOT {f} ON a USING count(*))",
]
FILE_ATTEMPTS = sorted({form.format(f=name) for form in FORMS for name in DOTTED}
                       | {form.format(f=f"'{name}'") for form in FORMS for name in FILES}
                       | {'SELECT * FROM "data.csv"', "SELECT * FROM main.'data.csv'"})
READERS = [
    "SELECT * FROM read_csv('data.csv')",
    "SELECT * FROM read_csv_auto('data.csv')",
    "SELECT * FROM read_json('creds.json')",
    "SELECT * FROM read_json_auto('creds.json')",
    "SELECT * FROM read_parquet('blob.parquet')",
    "SELECT * FROM parquet_scan('blob.parquet')",
    "SELECT * FROM parquet_metadata('blob.parquet')",
    "SELECT * FROM read_text('notes.txt')",
    "SELECT * FROM read_blob('notes.txt')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM sniff_csv('data.csv')",
    "SELECT 'data.csv'.read_csv()",
    "SELECT * FROM read_csv(['data.csv', 't.tsv'])",
    "SELECT (SELECT content FROM read_text('notes.txt'))",
    "SELECT * FROM runs LIMIT (SELECT count(*) FROM read_csv('data.csv'))",
    "SELECT * FROM query('SELECT * FROM data.csv')",
    "SELECT * FROM query_table('data.csv')",
    "SELECT * FROM read_duckdb('other.duckdb')",
]
SETTINGS = [
    "SELECT current_setting('home_directory')",
    "SELECT current_setting('temp_directory')",
    "SELECT system.main.current_setting('threads')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM pg_settings",
    "SELECT * FROM pg_catalog.pg_settings",
    "SELECT * FROM duckdb_databases",
    "SELECT * FROM duckdb_secrets()",
    "SELECT getvariable('x')",
    "SELECT * FROM duckdb_extensions()",
    "SELECT * FROM duckdb_logs",
    "SELECT * FROM which_secret('s3://x', 's3')",
    "PIVOT runs ON kind USING current_setting('threads')",
]
STATEMENTS = [
    "ATTACH 'other.duckdb' AS other",
    "COPY (SELECT * FROM runs) TO 'leak.csv'",
    "COPY runs FROM 'data.csv'",
    "EXPORT DATABASE 'dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "UPDATE EXTENSIONS",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET threads",
    "PRAGMA database_list",
    "CALL pragma_version()",
    "CHECKPOINT",
    "CREATE TABLE t AS FROM 'data.csv'",
    "CREATE SECRET (TYPE s3)",
    "SELECT nextval('seq')",
    "SELECT write_log('x')",
    "SELECT pg_sleep(100)",
    "SELECT * FROM json_execute_serialized_sql('{}')",
    "SELECT 1; SELECT * FROM 'data.csv'",
    "WITH x AS (SELECT 1) DELETE FROM store.runs WHERE run_id IN (SELECT * FROM (PIVOT runs ON "
    "kind USING count(*)))",
]
# Issue 25, item 7: every table reference of the parse tree is checked, not the words after
# FROM: names after a comma, in a dynamic PIVOT, behind catalog qualifiers, out of a CTE's
# scope; only the lab's tables and views (and information_schema) may be read.
REFERENCES = [
    "PIVOT (SELECT kind, fpd FROM runs, pg_settings) ON kind USING count(*)",
    "PIVOT (SELECT * FROM runs r, pg_settings s) ON kind USING count(*)",
    "SELECT * FROM (PIVOT (SELECT kind FROM runs, duckdb_settings) ON kind USING count(*)) p",
    "SELECT * FROM runs r, 'sqlsafety.duckdb.tmp/x.csv' f",
    "PIVOT (SELECT * FROM runs r, 'lab.duckdb.tmp/x.csv' f) ON kind USING count(*)",
    "PIVOT (FROM runs, read_text('notes.txt')) ON kind USING count(*)",
    "PIVOT runs ON kind IN (SELECT name FROM pg_settings) USING count(*)",
    "SELECT * FROM system.main.csv",
    "SELECT * FROM temp.main.x",
    "SELECT * FROM system.main.duckdb_settings",
    "SELECT * FROM pg_catalog.pg_class",
    "SELECT * FROM pg_class",
    "SELECT * FROM duckdb_settings",
    "SELECT * FROM runs JOIN (SELECT 1 FROM runs, pg_settings) s ON true",
    "SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1), pg_settings",
    "WITH x AS (SELECT * FROM pg_settings), pg_settings AS (SELECT 1) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM runs, pg_settings)",
    "SHOW DATABASES",
    "SELECT * FROM other.main.runs",
]
ATTEMPTS = FILE_ATTEMPTS + READERS + SETTINGS + STATEMENTS + REFERENCES

ORDINARY = [
    "SELECT count(*) FROM runs",
    "SELECT * FROM experiments",
    "SELECT kind, avg(fpd), stddev(fpd), max(capacity) FROM runs GROUP BY kind",
    "SELECT run_id, rank() OVER (PARTITION BY kind ORDER BY fpd DESC) FROM runs",
    "SELECT run_id, avg(eval_loss) OVER (ORDER BY run_id ROWS 2 PRECEDING) FROM runs",
    "SELECT expert, count(*) FROM experts GROUP BY ALL",
    "SELECT * FROM features WHERE superposition > 0.5",
    "SELECT step, name, value FROM metrics ORDER BY step LIMIT 3",
    "SELECT list_sum(W), len(W) FROM weights",
    "SELECT r.run_id, w.expert FROM runs r JOIN weights w USING (run_id)",
    "WITH r AS (SELECT run_id, fpd FROM runs) SELECT * FROM r ORDER BY fpd",
    "PIVOT runs ON kind USING count(*)",
    "PIVOT runs ON kind IN ('moe', 'dense') USING avg(fpd) GROUP BY seed",
    "SELECT * FROM (PIVOT runs ON kind USING count(*)) p",
    "UNPIVOT (SELECT run_id, fpd, capacity FROM runs) ON fpd, capacity INTO NAME k VALUE v",
    "DESCRIBE runs",
    "SUMMARIZE runs",
    "SHOW TABLES",
    "SELECT * FROM information_schema.columns WHERE table_name = 'runs'",
    "SELECT * FROM duckdb_columns() WHERE table_name = 'runs'",
    "SELECT [1, 2][1], {'a': 1}.a, 'x' || 'y', 3 // 2, 'ab' LIKE 'a%', 1 BETWEEN 0 AND 2",
    "SELECT list_transform([1, 2], lambda x: x + 1), strftime(now(), '%Y'), round(pi(), 2)",
    "SELECT CASE WHEN fpd > 1 THEN 'hi' ELSE 'lo' END, fpd::VARCHAR FROM runs",
    "SELECT COLUMNS('fp.*') FROM runs",
    "SELECT quantile_cont(fpd, 0.5), arg_max(run_id, fpd), histogram(kind) FROM runs",
    "SELECT * FROM range(3) t(i) CROSS JOIN generate_series(1, 2)",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT 1; -- a trailing comment",
    "WITH pg_settings AS (SELECT 1 AS a) SELECT * FROM pg_settings",  # a CTE of that name
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) FROM t",
    "SELECT * FROM runs r, experiments e WHERE r.experiment_id = e.experiment_id",
    "SELECT * FROM main.runs, store.runs LIMIT 1",
    "PIVOT (SELECT kind, seed FROM runs, experiments) ON kind USING count(*)",
    "SELECT * FROM information_schema.tables",
    "SHOW runs",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The database the service holds, with secrets beside it (its working directory)."""
    folder = tmp_path_factory.mktemp("sqlsafety")
    plant_secrets(folder)
    return make_lab(folder / "lab.duckdb")


@pytest.fixture(scope="module")
def service(lab):
    with running_service(lab), ServiceClient(lab) as client:
        yield client


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    """Another database read directly; relative names resolve against the working
    directory, which holds the secrets too."""
    folder = tmp_path_factory.mktemp("sqldirect")
    plant_secrets(folder)
    db = make_lab(folder / "direct.duckdb")
    with pytest.MonkeyPatch.context() as mp, DirectClient(db) as client:
        mp.chdir(folder)
        yield client


@pytest.fixture(scope="module")
def raw_cursor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlraw")
    plant_secrets(folder)
    with pytest.MonkeyPatch.context() as mp, open_store(folder / "raw.duckdb") as store:
        mp.chdir(folder)
        yield store._cursor()


def _refused(ask, sql: str) -> str:
    try:
        cols, rows = ask(sql)
    except (ClientError, StoreError) as err:
        message = str(err)
        assert SECRET not in message and "\n" not in message, message
        return message
    raise AssertionError(f"accepted: {sql!r} -> {cols} {rows[:3]}")


@pytest.mark.parametrize("sql", ATTEMPTS)
def test_refused_through_the_service(service, sql):
    _refused(service.sql, sql)


@pytest.mark.parametrize("sql", ATTEMPTS)
def test_refused_by_the_tui_query_path(service, sql):
    # The TUI's SQL console pages a query through the `sql_page` read.
    _refused(lambda q: (None, service.read("sql_page", query=q, count=True)["rows"]), sql)


@pytest.mark.parametrize("sql", ATTEMPTS)
def test_refused_without_a_service(direct, sql):
    _refused(direct.sql, sql)


@pytest.mark.parametrize("sql", ATTEMPTS)
def test_the_guard_alone_refuses(sql):
    with pytest.raises(StoreError):  # QueryRefused, or a parse error
        check_read_only(sql)


@pytest.mark.parametrize("sql", FILE_ATTEMPTS + READERS)
def test_duckdb_alone_cannot_read_the_files(raw_cursor, sql):
    """The first wall: on the lab's own connection, even unguarded SQL reaches no file."""
    with pytest.raises(duckdb.Error) as info:
        raw_cursor.execute(sql).fetchall()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("sql", ORDINARY)
def test_ordinary_queries_work_everywhere(service, direct, sql):
    for ask in (service.sql, direct.sql):
        cols, rows = ask(sql)
        assert cols and isinstance(rows, list)


def test_the_cli_refuses_in_one_line_with_and_without_a_service(lab, service):
    for sql in ("SELECT * FROM data.csv", "SELECT current_setting('home_directory')"):
        one_clear_line(cli("sql", sql, db=lab))
    other = lab.parent / "plain.duckdb"
    make_lab(other)
    for sql in ("SELECT * FROM data.csv", "UPDATE EXTENSIONS"):
        assert SECRET not in one_clear_line(cli("sql", sql, db=other, cwd=lab.parent))


def test_exports_are_written_by_python_not_by_user_sql(lab, service, tmp_path):
    out = tmp_path / "runs.csv"
    assert service.read("export_query", query="SELECT run_id FROM runs", out=str(out)) == 6
    assert out.read_text().splitlines()[0] == "run_id"
    with pytest.raises(ClientError):
        service.read("export_query", query="SELECT * FROM 'data.csv'", out=str(out))
    with open_store(tmp_path / "x.duckdb") as store, pytest.raises(QueryRefused):
        run_read_query(store, "COPY runs TO 'y.csv'")


def test_every_table_and_view_of_a_lab_is_allowed(tmp_path):
    """The guard's list comes from the migrations: it must name everything they create."""
    from moelab.db.readonly import lab_tables
    with open_store(tmp_path / "all.duckdb") as store:
        rows = store._cursor().execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
            "current_database() UNION SELECT schema_name, view_name FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal").fetchall()
    assert rows and all(name in lab_tables()[schema] for schema, name in rows), rows


def test_the_db_package_loads_its_names_lazily():
    import moelab.db as db
    assert sorted(db.__all__) == sorted(db._WHERE)
    for name in db.__all__:
        assert getattr(db, name) is not None
