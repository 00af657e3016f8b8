"""The read-only guard: the second wall around user SQL, built on DuckDB's own parser.

The first wall is the connection itself (db/connection.py): DuckDB runs with external access
off and its configuration locked, so no query can open a file, attach a database, load an
extension or change a setting, whatever the guard lets through. The guard then allows only
what a read of this database needs: one query (SELECT, FROM, WITH, VALUES, DESCRIBE,
SUMMARIZE, SHOW, PIVOT, UNPIVOT), functions from a reviewed allow-list (db/safe_functions.py),
table functions that compute or describe this database, and tables by plain names in this
database's schemas. Running the query is db/userquery.py's job.

Every table reference of the parse tree is checked, wherever it sits (joins, comma joins,
subqueries, CTEs, PIVOT): a name must be one of the lab's tables or views (those its
migrations create), a CTE in scope where it is used, or a view of information_schema; a
qualifier may only name this database and its schemas main and store. A dynamic PIVOT (no IN
list) is checked through its static twin (the same text with `IN (NULL)` added), since DuckDB
cannot serialise it; a query whose tree cannot be had is refused. Size bounds (text, tree,
functions that build big values) are db/sqlbounds.py's.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import duckdb

from .errors import QueryRefused, StoreError, one_line
from .safe_functions import SAFE_FUNCTIONS
from .sqlbounds import check_bounds

if TYPE_CHECKING:
    from .store import Store

# Table functions that only compute or describe this database.
SAFE_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "json_each", "json_tree",
    "duckdb_columns", "duckdb_tables", "duckdb_views", "duckdb_schemas", "duckdb_types",
    "duckdb_functions", "duckdb_keywords", "duckdb_constraints", "duckdb_indexes",
    "pragma_table_info", "pragma_version",
})

# Where a table may live: this database's schemas and the standard views that describe it.
# A dotted name outside them (`data.csv`, `backup.data.csv`) is what DuckDB would read as a
# file; `system.main.x`, `temp.main.x` and pg_catalog reach DuckDB's own views (settings).
_SCHEMAS = frozenset({"", "main", "store", "information_schema"})
# SHOW TABLES / SHOW ALL TABLES / DESCRIBE (query) name these, not tables.
_SHOW_NAMES = frozenset({"", '"tables"', "__show_tables_expanded"})
MAX_CHARS = 100_000  # default of MOELAB_SQL_MAX_CHARS

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")

# A dynamic PIVOT (no IN list) parses as several statements DuckDB cannot serialise; it is
# checked token by token instead, and these words refuse it outright.
_STATEMENT_WORDS = frozenset({
    "insert", "update", "delete", "create", "drop", "alter", "attach", "detach", "copy",
    "export", "import", "install", "load", "set", "reset", "pragma", "call", "checkpoint",
    "vacuum", "use", "truncate", "merge", "prepare", "execute", "deallocate",
})
_QUERY_STARTS = frozenset({"select", "from", "with", "pivot", "("})

_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def check_read_only(sql: str, database: str | None = None) -> None:
    """Raise QueryRefused unless `sql` is exactly one query that reads only this database
    (`database`: its catalog name, which a query may spell out)."""
    if not isinstance(sql, str):
        raise QueryRefused("the query must be text")
    cap = max_chars()
    if len(sql) > cap:
        raise QueryRefused(f"the query is {len(sql):,} characters long; at most {cap:,} "
                           "(MOELAB_SQL_MAX_CHARS)")
    try:
        _check(sql, database)
    except RecursionError:
        raise QueryRefused("the query is nested too deeply to check; flatten it") from None


def _check(sql: str, database: str | None) -> None:
    statements = _split(sql)
    if not statements:
        raise QueryRefused("the query is empty; write one SELECT statement")
    if len(statements) > 1:
        raise QueryRefused(
            f"only one statement at a time is allowed, got {len(statements)}; "
            "run them separately"
        )
    kind = _statement_type(statements[0])
    if kind == duckdb.StatementType.MULTI and _first_word(sql).lower() in _QUERY_STARTS:
        _check_tokens(sql)  # a PIVOT over values found at run time
        tree = _syntax_tree(static_twin(sql), "cannot check this PIVOT; list its values "
                            "(ON column IN ('a', 'b')) or write it as a plain SELECT")
    elif kind != duckdb.StatementType.SELECT:
        raise QueryRefused(
            f"only SELECT queries are allowed here; {_first_word(statements[0].query)} is "
            "refused because this path is read-only"
        )
    else:
        tree = _syntax_tree(sql)
    check_bounds(tree)
    catalogs = {""} | ({database.lower()} if database else set())
    _check_tree(tree, catalogs, frozenset())


def max_chars() -> int:
    """MOELAB_SQL_MAX_CHARS: the longest query text accepted."""
    raw = os.environ.get("MOELAB_SQL_MAX_CHARS") or ""
    if not raw:
        return MAX_CHARS
    if not raw.isdigit() or int(raw) < 1:
        raise StoreError(f"MOELAB_SQL_MAX_CHARS={raw!r} is not a whole number of characters")
    return int(raw)


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


def _statement_type(statement) -> duckdb.StatementType | None:
    try:
        return statement.type
    except ValueError:  # a statement type the Python binding has no name for (UPDATE EXTENSIONS)
        return None


def _first_word(text: str) -> str:
    for offset, kind in duckdb.tokenize(text):
        if kind != duckdb.token_type.comment:
            word = re.match(r"\w+|\(", text[offset:])
            return word.group(0).upper() if word else "this statement"
    return "this statement"


def _syntax_tree(sql: str, what: str = "") -> dict:
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:", config={
                "autoinstall_known_extensions": False, "enable_external_access": False})
        try:
            text = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
        except duckdb.Error as err:
            raise QueryRefused(f"cannot check this query: {one_line(str(err))}") from err
    tree = json.loads(text)
    if tree.get("error"):
        raise QueryRefused(what or (
            f"cannot check this query ({tree.get('error_message', 'unsupported syntax')}); "
            "write it as a plain SELECT"))
    return tree


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _check_tree(node: object, catalogs: set[str], scope: frozenset[str]) -> None:
    """Check every node; `scope`: the CTE names visible here (a CTE's body sees itself and
    the CTEs before it, the query its WITH belongs to sees them all)."""
    if isinstance(node, list):
        for value in node:
            _check_tree(value, catalogs, scope)
        return
    if not isinstance(node, dict):
        return
    _check_node(node, catalogs, scope)
    ctes = node.get("cte_map")
    inner = scope
    if isinstance(ctes, dict):
        for entry in ctes.get("map") or []:
            inner = inner | {str(entry.get("key", "")).lower()}
            _check_tree(entry.get("value"), catalogs, inner)
    for key, value in node.items():
        if key != "cte_map":
            _check_tree(value, catalogs, inner)


def _check_node(node: dict, catalogs: set[str], scope: frozenset[str]) -> None:
    if node.get("type") == "TABLE_FUNCTION":
        name = (node.get("function") or {}).get("function_name", "").lower()
        if name not in SAFE_TABLE_FUNCTIONS:
            raise QueryRefused(
                f"table function {name}() is refused: queries may read only this database"
            )
    name = node.get("function_name")
    if isinstance(name, str):
        _check_function(name)
    for key in ("table_name", "schema_name", "catalog_name"):
        value = node.get(key)
        if isinstance(value, str) and value and not _is_identifier(value):
            raise QueryRefused(
                f"table name '{value}' looks like a file; queries may read only this "
                "database's tables and views"
            )
    if node.get("type") == "BASE_TABLE" or (
            node.get("type") == "SHOW_REF" and node.get("table_name") not in _SHOW_NAMES):
        _check_table(node, catalogs, scope)


def _check_function(name: str) -> None:
    lowered = name.lower()
    if lowered not in SAFE_FUNCTIONS and lowered not in SAFE_TABLE_FUNCTIONS:
        raise QueryRefused(
            f"function {name}() is not allowed in queries here (only functions that compute "
            "from their arguments are; none that reach files, settings or sequences)"
        )


def _check_table(node: dict, catalogs: set[str], scope: frozenset[str]) -> None:
    table = (node.get("table_name") or "").lower()
    schema = (node.get("schema_name") or "").lower()
    catalog = (node.get("catalog_name") or "").lower()
    dotted = ".".join(p for p in (catalog, schema, table) if p)
    if schema not in _SCHEMAS or catalog not in catalogs:
        raise QueryRefused(
            f"{dotted} is not a table of this database (DuckDB would read it as a file or "
            "as its own settings); queries may read only the lab's views and tables"
        )
    if schema == "information_schema":
        return  # the standard views describe this database's tables and columns
    known = lab_tables().get(schema or "main", frozenset())
    if table in known or (not schema and not catalog and table in scope):
        return
    raise QueryRefused(
        f"{dotted} is not one of the lab's tables or views (see `moelab sql` in the README: "
        "runs, experiments, experts, features, …); queries may read only those"
    )


_LAB_TABLES: dict[str, frozenset[str]] = {}
_CREATED = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                      r"(?:(\w+)\.)?(\w+)", re.IGNORECASE)


def lab_tables() -> dict[str, frozenset[str]]:
    """The tables and views the lab's migrations create, by schema (main: the public views;
    store: the tables behind them)."""
    if not _LAB_TABLES:
        from .migrations import BOOTSTRAP, MIGRATIONS  # local: migrations is a big module

        found: dict[str, set[str]] = {}
        for sql in (BOOTSTRAP, *(text for _, text in MIGRATIONS)):
            for schema, name in _CREATED.findall(sql):
                found.setdefault((schema or "main").lower(), set()).add(name.lower())
        _LAB_TABLES.update({k: frozenset(v) for k, v in found.items()})
    return _LAB_TABLES


def _is_identifier(name: str) -> bool:
    # SHOW TABLES arrives as the quoted name "tables".
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return _IDENTIFIER.fullmatch(name) is not None


def _check_tokens(sql: str) -> None:
    """The wall for a dynamic PIVOT: no statement keyword, every called name on the lists,
    tables by plain names in this database's schemas, no quoted file names."""
    tokens = duckdb.tokenize(sql)
    ends = [o for o, _ in tokens[1:]] + [len(sql)]
    words = [(sql[o:end].strip(), kind) for (o, kind), end in zip(tokens, ends, strict=True)
             if kind != duckdb.token_type.comment]
    for i, (text, kind) in enumerate(words):
        word = text.lower()
        following = words[i + 1][0] if i + 1 < len(words) else ""
        previous = words[i - 1][0].lower() if i else ""
        if kind == duckdb.token_type.keyword and word in _STATEMENT_WORDS:
            raise QueryRefused(f"{text.upper()} is refused: this path is read-only")
        if kind == duckdb.token_type.identifier and following.startswith("("):
            _check_function(word.strip('"'))
        if kind == duckdb.token_type.identifier and "." in word:
            raise QueryRefused(f"{text} looks like a file; queries may read only this "
                               "database's tables and views")
        if previous in _TABLE_WORDS:
            if kind == duckdb.token_type.string_const:
                raise QueryRefused(f"{text} looks like a file; queries may read only this "
                                   "database's tables and views")
            _check_dotted(words, i)


# Words a table name follows; a dotted name after them must name one of our schemas.
_TABLE_WORDS = frozenset({"from", "join", "pivot", "unpivot", "describe", "summarize"})


def _check_dotted(words: list[tuple[str, object]], start: int) -> None:
    parts = [words[start][0]]
    i = start + 1
    while i + 1 < len(words) and words[i][0] == ".":
        parts.append(words[i + 1][0])
        i += 2
    if len(parts) > 1 and (parts[-2].lower().strip('"') not in _SCHEMAS or len(parts) > 3):
        raise QueryRefused(f"{'.'.join(parts)} is not a table of this database (DuckDB would "
                           "read it as a file); queries may read only the lab's views and "
                           "tables")


# Words that end a PIVOT's ON list at its own depth.
_AFTER_ON = frozenset({"using", "group", "order", "limit", "offset", "union", "except",
                       "intersect", "qualify", "having", "window", "on", "pivot", "unpivot"})


def static_twin(sql: str) -> str:
    """`sql` with `IN (NULL)` after each item of a dynamic PIVOT's ON list: the same table
    references, in a form DuckDB can serialise. Only words are added, never removed, so a
    table the query reads is in the twin's tree too."""
    tokens = duckdb.tokenize(sql)
    ends = [o for o, _ in tokens[1:]] + [len(sql)]
    words = []  # (lowered text, start, end, depth, is a string)
    depth = 0
    for (offset, kind), end in zip(tokens, ends, strict=True):
        piece = sql[offset:end].rstrip()
        if kind == duckdb.token_type.comment:
            continue
        if kind == duckdb.token_type.operator and piece == ")":
            depth -= 1
        words.append((piece.lower(), offset, offset + len(piece), depth,
                      kind == duckdb.token_type.string_const))
        if kind == duckdb.token_type.operator and piece == "(":
            depth += 1
    inserts = []
    for i, (word, _, _, level, quoted) in enumerate(words):
        if quoted or word not in ("pivot", "pivot_wider"):
            continue
        on = next((j for j in range(i + 1, len(words)) if words[j][3] < level or (
            words[j][3] == level and words[j][0] == "on" and not words[j][4])), None)
        if on is None or words[on][3] < level:
            continue
        item_has_in, last_end = False, None
        for word2, _, end, level2, quoted2 in words[on + 1:] + [(";", 0, 0, -1, False)]:
            closing = level2 < level or (level2 == level and not quoted2 and (
                word2 in _AFTER_ON or word2 in (",", ";")))
            if closing:
                if last_end is not None and not item_has_in:
                    inserts.append(last_end)
                if level2 < level or word2 != ",":
                    break
                item_has_in, last_end = False, None
                continue
            if level2 == level and word2 == "in" and not quoted2:
                item_has_in = True
            last_end = end
    for at in sorted(inserts, reverse=True):
        sql = f"{sql[:at]} IN (NULL){sql[at:]}"
    return sql
