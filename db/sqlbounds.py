"""Bounds on what one user query may ask of the process: how big its parse tree is, and how
big a value its size-taking functions may build.

DuckDB's memory_limit covers its operators (sorts, joins, aggregates) but not the values a
function builds: `len(range(300000000))` or `repeat(repeat('x', 1000000), 4000)` allocate
gigabytes in one call, during planning (constant folding), where no interrupt is looked at;
so do thousands of UNION terms. The read-only guard (db/readonly.py) calls check_bounds() on
the parse tree, before DuckDB plans anything. The memory watchdog (db/sqlmemory.py) covers
what grows batch by batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import QueryRefused

MAX_NODES = 50_000  # parse-tree objects; a 100 KB query of ordinary SQL has a few thousand
MAX_SET_TERMS = 1_000  # UNION/EXCEPT/INTERSECT terms: planning grows with their square
# Tables, table functions and subqueries: DuckDB's join ordering grows steeply with them
# (measured, one core: a chain of 60 joins plans in 0.3 s, of 100 in 6 s, of 150 in 33 s).
MAX_TABLE_REFS = 64
MAX_LIST = 100_000  # elements of a list built by range() / generate_series() / list_resize()
MAX_TEXT = 1_000_000  # characters of a string built by repeat() / lpad() / rpad()
MAX_REPEAT_COLUMN = 1_000  # repeat() of a value that is not a constant
MAX_WIDTH = 1_000  # bar() width, to_base() digits
MAX_BINS = 100_000  # equi_width_bins() count

# Functions whose result can be far bigger than their arguments: the argument that says how
# big (by position), its cap, and the unit named in the refusal.
_SIZED = {
    "range": None, "generate_series": None,  # all arguments: the count follows from them
    "repeat": (1, MAX_TEXT, "characters"),
    "lpad": (1, MAX_TEXT, "characters"), "rpad": (1, MAX_TEXT, "characters"),
    "list_resize": (1, MAX_LIST, "elements"), "array_resize": (1, MAX_LIST, "elements"),
    "bar": (3, MAX_WIDTH, "characters"), "to_base": (2, MAX_WIDTH, "digits"),
    "equi_width_bins": (2, MAX_BINS, "bins"),
}
_FORMATS = frozenset({"printf", "format"})
_WIDE_FORMAT = re.compile(r"\d{5,}")  # a width or precision of 10,000 or more


def check_bounds(tree: dict) -> None:
    """Raise QueryRefused when the query is too big to plan or builds too big a value."""
    nodes = terms = refs = 0
    streamed: set[int] = set()  # FROM range(N) streams its rows: no value is built
    for node in _nodes(tree):
        nodes += 1
        kind = node.get("type")
        if kind == "SET_OPERATION_NODE":  # a chain of UNION ALL is one node, many children
            terms += max(len(node.get("children") or []), 2) - 1
        elif kind in ("BASE_TABLE", "TABLE_FUNCTION", "SUBQUERY"):
            refs += 1
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            streamed.add(id(node["function"]))
        if node.get("class") == "FUNCTION" and id(node) not in streamed:
            _check_call(node)
    if nodes > MAX_NODES:
        raise QueryRefused(f"the query is too big to plan ({nodes} parse nodes, at most "
                           f"{MAX_NODES}); split it")
    if terms >= MAX_SET_TERMS:
        raise QueryRefused(f"the query has over {MAX_SET_TERMS} UNION/EXCEPT/INTERSECT terms; "
                           "put the values in a table expression (VALUES, range()) instead")
    if refs > MAX_TABLE_REFS:
        raise QueryRefused(f"the query names over {MAX_TABLE_REFS} tables and subqueries "
                           "(planning it could take minutes); split it")


def _nodes(tree: object) -> Iterator[dict]:
    stack = [tree]  # not recursive: a deep tree must not exhaust Python's stack
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _check_call(node: dict) -> None:
    name = str(node.get("function_name", "")).lower()
    args = [a.get("expression") if isinstance(a, dict) and "expression" in a else a
            for a in node.get("arguments") or node.get("children") or []]
    if name in _FORMATS:
        fmt = constant(args[0]) if args else None
        if isinstance(fmt, str) and _WIDE_FORMAT.search(fmt):
            raise QueryRefused(f"{name}() with a width of 10,000 or more is refused here")
        return
    if name not in _SIZED:
        return
    for arg in args:
        if _builds_big(arg):
            raise QueryRefused(f"{name}() of the result of another size-taking function "
                               "(range, repeat, lpad, …) is refused here: it multiplies sizes")
    if _SIZED[name] is None:
        _check_series(name, args)
        return
    index, cap, unit = _SIZED[name]
    if index >= len(args):
        return
    count = number(args[index])
    if count is None:
        raise QueryRefused(f"{name}() takes a constant number as its size here (a computed "
                           "one could ask for any amount of memory)")
    size = count
    if name == "repeat":
        source = constant(args[0])
        if isinstance(source, str):
            size = count * max(len(source), 1)
        elif count > MAX_REPEAT_COLUMN:
            raise QueryRefused(f"repeat() of a computed value at most {MAX_REPEAT_COLUMN} "
                               "times here")
    if size > cap:
        raise QueryRefused(f"{name}() would build {size:,.0f} {unit}; at most {cap:,} here "
                           "(the service's memory is shared)")


def _check_series(name: str, args: list) -> None:
    values = [number(a) for a in args]
    if not values or any(v is None for v in values):
        raise QueryRefused(f"{name}() as a value takes constant numbers here; for a long or "
                           f"computed series use the table function: FROM {name}(...)")
    start, stop, step = (0, values[0], 1) if len(values) == 1 else (
        values[0], values[1], values[2] if len(values) > 2 else 1)
    count = abs(stop - start) / max(abs(step), 1e-300)
    if count > MAX_LIST:
        raise QueryRefused(f"{name}() as a value would build {count:,.0f} elements; at most "
                           f"{MAX_LIST:,} here, or use the table function: FROM {name}(...)")


def _builds_big(node: object) -> bool:
    for inner in _nodes(node):
        if inner.get("class") == "FUNCTION" and \
                str(inner.get("function_name", "")).lower() in _SIZED:
            return True
    return False


def constant(node: object) -> object:
    """The value of a constant expression (a literal, a cast or negation of one), else None."""
    if not isinstance(node, dict):
        return None
    if node.get("class") == "CONSTANT":
        literal = node.get("literal")
        if isinstance(literal, dict):
            kind, text = literal.get("kind"), literal.get("text")
            if kind == "STRING":
                return text
            return _to_number(text)
        value = node.get("value")
        return value.get("value") if isinstance(value, dict) else None
    if node.get("class") == "CAST":
        return constant(node.get("child"))
    if node.get("class") == "FUNCTION" and node.get("function_name") == "-":
        args = node.get("arguments") or node.get("children") or []
        if len(args) == 1:
            inner = number(args[0].get("expression") if "expression" in args[0] else args[0])
            return None if inner is None else -inner
    return None


def number(node: object) -> float | None:
    value = constant(node)
    if isinstance(value, str):
        value = _to_number(value)
    return value if isinstance(value, (int, float)) else None


def _to_number(text: object) -> float | None:
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        return None
    return value if value == value else None
