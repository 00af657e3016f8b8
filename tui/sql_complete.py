"""Completion for the SQL console: the word before the cursor against view names, their
columns and SQL keywords (pure functions; the names come from the lab's column_names read)."""

from __future__ import annotations

import re

VIEWS = ("experiments", "runs", "experts", "features", "metrics", "weights")
KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "JOIN",
            "LEFT JOIN", "USING", "AS", "AND", "OR", "NOT", "DISTINCT", "COUNT", "AVG", "MIN",
            "MAX", "SUM", "WITH", "DESC", "ASC", "CASE", "WHEN", "THEN", "ELSE", "END")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_VIEW = re.compile(rf"\b({'|'.join(VIEWS)})\b", re.IGNORECASE)
# Completion reads only this much of the query around the cursor, so that a keystroke costs
# the same in a 200 KB query as in a short one (the whole text was scanned per key before).
WORD_MAX = 128
NEAR_LINES = 40
NEAR_CHARS = 4_000


def word_before(line: str, column: int) -> str:
    m = _WORD.search(line[max(0, column - WORD_MAX):column])
    return m.group(0) if m else ""


def near_cursor(lines, row: int, column: int) -> str:
    """The text around the cursor that completion reads: up to NEAR_LINES lines either side,
    each at most NEAR_CHARS characters (the cursor's own line around the cursor)."""
    out = []
    for r in range(max(0, row - NEAR_LINES), min(len(lines), row + NEAR_LINES + 1)):
        line = lines[r]
        if r == row:
            start = max(0, column - NEAR_CHARS // 2)
            out.append(line[start:start + NEAR_CHARS])
        else:
            out.append(line[:NEAR_CHARS])
    return "\n".join(out)


def candidates(prefix: str, columns: dict[str, list[str]], text: str = "",
               most: int = 8) -> list[str]:
    """Names starting with prefix: columns of the views the query mentions first, then the
    views, other columns and keywords; case-insensitive, each once."""
    if not prefix:
        return []
    p = prefix.lower()
    found = {m.lower() for m in _VIEW.findall(text)}
    mentioned = [v for v in VIEWS if v in found]
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
