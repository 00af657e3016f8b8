"""The read-only query path: a guard built on duckdb's own parser, then a rolled-back read.

The guard is deliberately conservative: one SELECT, no table function outside a short
allow-list, no function that touches files, settings or sequences, and no table name that
could be a file (DuckDB reads `FROM 'x.csv'` straight off the disk).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator

import duckdb

from .errors import QueryRefused, StoreError, one_line, wrap
from .store import Store

# Table functions that only compute or describe this database.
_SAFE_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "json_each", "json_tree",
    "duckdb_columns", "duckdb_tables", "duckdb_views", "duckdb_schemas", "duckdb_types",
    "duckdb_functions", "duckdb_keywords", "duckdb_constraints", "duckdb_indexes",
    "pragma_table_info", "pragma_version",
})

# Scalar/aggregate names that reach outside the query or change state; matched as substrings
# so extension functions (read_xlsx, st_read, iceberg_scan, delta_scan ...) are caught too.
_UNSAFE_FUNCTION = re.compile(
    r"read|scan|glob|file|write|copy|export|import|attach|detach|install|load|http|s3|"
    r"secret|query|sql|exec|shell|system|getenv|nextval|currval|setval|checkpoint|"
    r"logging|profil|external|iceberg|delta|sniff"
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")

_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def check_read_only(sql: str) -> None:
    """Raise QueryRefused unless `sql` is exactly one SELECT that reads only this database."""
    statements = _split(sql)
    if not statements:
        raise QueryRefused("the query is empty; write one SELECT statement")
    if len(statements) > 1:
        raise QueryRefused(
            f"only one statement at a time is allowed, got {len(statements)}; "
            "run them separately"
        )
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise QueryRefused(
            f"only SELECT queries are allowed here; {_first_word(statement.query)} is refused "
            "because this path is read-only"
        )
    for node in _walk(_syntax_tree(sql)):
        _check_node(node)


def run_read_query(
    store_or_con: Store | duckdb.DuckDBPyConnection, sql: str, limit: int | None = None
) -> tuple[list[str], list[tuple]]:
    """Guard `sql`, then run it in a transaction that is always rolled back."""
    check_read_only(sql)
    if isinstance(store_or_con, Store):
        cursor = store_or_con._cursor()
    else:
        cursor = store_or_con.cursor()
    try:
        cursor.begin()
        try:
            result = cursor.execute(sql)
            names = [d[0] for d in result.description] if result.description else []
            rows = result.fetchall() if limit is None else result.fetchmany(max(int(limit), 0))
        finally:
            cursor.rollback()
    except duckdb.Error as err:
        raise wrap(err, "query") from err
    finally:
        cursor.close()
    return names, rows


def open_read_only(path: str | os.PathLike[str]) -> Store:
    """Open the file directly, read-only, for when no lab service holds it."""
    from .connection import open_store  # local: connection imports store, avoid a cycle

    return open_store(path, read_only=True)


def statement_body(sql: str) -> str:
    """The statement without trailing semicolons and comments, safe to put in parentheses."""
    end = len(sql)
    for offset, kind in reversed(duckdb.tokenize(sql)):
        trailing_semicolon = (
            kind == duckdb.token_type.operator and sql[offset:end].strip() == ";"
        )
        if kind != duckdb.token_type.comment and not trailing_semicolon:
            break
        end = offset
    return sql[:end].rstrip()


def _split(sql: str) -> list:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise StoreError(f"the query does not parse: {one_line(str(err))}") from err


def _first_word(text: str) -> str:
    for offset, kind in duckdb.tokenize(text):
        if kind != duckdb.token_type.comment:
            word = re.match(r"\w+", text[offset:])
            return word.group(0).upper() if word else "this statement"
    return "this statement"


def _syntax_tree(sql: str) -> dict:
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
        try:
            text = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
        except duckdb.Error as err:
            raise QueryRefused(f"cannot check this query: {one_line(str(err))}") from err
    tree = json.loads(text)
    if tree.get("error"):
        raise QueryRefused(
            f"cannot check this query ({tree.get('error_message', 'unsupported syntax')}); "
            "write it as a plain SELECT"
        )
    return tree


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _check_node(node: dict) -> None:
    if node.get("type") == "TABLE_FUNCTION":
        name = (node.get("function") or {}).get("function_name", "").lower()
        if name not in _SAFE_TABLE_FUNCTIONS:
            raise QueryRefused(
                f"table function {name}() is refused: queries may read only this database"
            )
    name = node.get("function_name")
    if isinstance(name, str) and _UNSAFE_FUNCTION.search(name.lower()):
        if name.lower() not in _SAFE_TABLE_FUNCTIONS:
            raise QueryRefused(
                f"function {name}() is refused: it can reach files, settings or the network"
            )
    for key in ("table_name", "schema_name", "catalog_name"):
        value = node.get(key)
        if isinstance(value, str) and value and not _is_identifier(value):
            raise QueryRefused(
                f"table name '{value}' looks like a file; queries may read only this "
                "database's tables and views"
            )


def _is_identifier(name: str) -> bool:
    # SHOW TABLES arrives as the quoted name "tables".
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return _IDENTIFIER.fullmatch(name) is not None
