"""Completion for the SQL console: the word before the cursor against view names, their
columns and SQL keywords (pure functions; the names come from the lab's column_names read)."""

from __future__ import annotations

import re

VIEWS = ("experiments", "runs", "experts", "features", "metrics", "weights")
KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "JOIN",
            "LEFT JOIN", "USING", "AS", "AND", "OR", "NOT", "DISTINCT", "COUNT", "AVG", "MIN",
            "MAX", "SUM", "WITH", "DESC", "ASC", "CASE", "WHEN", "THEN", "ELSE", "END")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def word_before(line: str, column: int) -> str:
    m = _WORD.search(line[:column])
    return m.group(0) if m else ""


def candidates(prefix: str, columns: dict[str, list[str]], text: str = "",
               most: int = 8) -> list[str]:
    """Names starting with prefix: columns of the views the query mentions first, then the
    views, other columns and keywords; case-insensitive, each once."""
    if not prefix:
        return []
    p = prefix.lower()
    mentioned = [v for v in VIEWS if re.search(rf"\b{v}\b", text, re.IGNORECASE)]
    pools = [c for v in mentioned for c in columns.get(v, [])]
    pools += list(VIEWS)
    pools += [c for v in VIEWS if v not in mentioned for c in columns.get(v, [])]
    pools += list(KEYWORDS)
    out: list[str] = []
    for name in pools:
        if name.lower().startswith(p) and name.lower() != p and name not in out:
            out.append(name)
        if len(out) >= most:
            break
    return out
