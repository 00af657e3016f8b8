"""The runs table with columns of the user's choosing (registered into db.registry.READS).

A column is one of:
  * a column of the `runs` view (`router_init`, `eval_loss`, …);
  * a config field as `section.field` (`train.lr`, `data.importance`), read from the run's
    stored config JSON;
  * a logged metric summarised per run: `min(loss)`, `max(rec_loss)`, `last(router_grad_norm)`
    (the value at the last logged step).
Names are checked against these patterns and the view's own columns before any SQL is
built, so a column list cannot carry SQL; the user's filter goes through the read-only guard.
"""

from __future__ import annotations

import re

from ..errors import StoreError
from ..registry import plain, register_read
from ..store import Store
from ..userquery import run_read_query

_CONFIG = re.compile(r"(model|data|train)\.([a-z_][a-z0-9_]*)")
_METRIC = re.compile(r"(min|max|last)\(([a-z_][a-z0-9_]*)\)")
_AGG_SQL = {"min": "min(value)", "max": "max(value)", "last": "arg_max(value, step)"}
ROWS_MAX = 100_000


def view_columns(store: Store) -> list[str]:
    names, _ = store.query("SELECT * FROM runs LIMIT 0")
    return names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parse_columns(columns: list[str], known: list[str]) -> tuple[list[str], list[tuple]]:
    """(the columns to add to the runs view, the metric summaries needed as (agg, metric,
    alias)); a StoreError names the first column that is none of the three kinds."""
    select, metrics = [], []
    for raw in columns:
        name = str(raw).strip()
        if name in known:
            continue
        elif m := _CONFIG.fullmatch(name):
            select.append(f"json_extract_string(r.config, '$.{m[1]}.{m[2]}') AS {_quote(name)}")
        elif m := _METRIC.fullmatch(name):
            metrics.append((m[1], m[2], name))
            select.append(f"m.{_quote(name)}")
        else:
            raise StoreError(
                f"unknown column {name!r}: use a column of the runs view, a config field as "
                "section.field (train.lr), or min(metric) / max(metric) / last(metric)")
    if not columns:
        raise StoreError("choose at least one column")
    return select, metrics


def runs_relation(columns: list[str], known: list[str]) -> str:
    """The runs view with the chosen config fields and metric summaries added as columns,
    named runs (so a filter or a sort names any of them as shown)."""
    extra, metrics = parse_columns(columns, known)
    select = ["r.*"] + extra
    join = ""
    if metrics:
        names = sorted({metric for _, metric, _ in metrics})
        aggs = ", ".join(f"{_AGG_SQL[agg]} FILTER (WHERE name = '{metric}') AS {_quote(alias)}"
                         for agg, metric, alias in metrics)
        listed = ", ".join(f"'{n}'" for n in names)
        join = (f" LEFT JOIN (SELECT run_id, {aggs} FROM metrics WHERE name IN ({listed}) "
                "GROUP BY run_id) m ON m.run_id = r.run_id")
    return f"(SELECT {', '.join(select)} FROM runs r{join}) AS runs"


@register_read("runs_columns_page")
def runs_columns_page(store: Store, columns: list[str], where: str | None = None,
                      order_by: str | None = None, descending: bool = False,
                      offset: int = 0, limit: int = 200) -> dict:
    """One page of runs with the chosen columns, under a user's SQL condition over the runs
    view and the chosen columns, sorted by any column (shown or not), and how many match."""
    offset, limit = int(offset), int(limit)
    if offset < 0 or not 0 < limit <= ROWS_MAX:
        raise StoreError(f"a page needs offset >= 0 and 0 < limit <= {ROWS_MAX}")
    columns = [str(c).strip() for c in columns]
    if order_by is not None:
        order_by = str(order_by).strip()
    # A sort column need not be shown: it joins the relation, not the output.
    wanted = columns + ([order_by] if order_by and order_by not in columns else [])
    relation = runs_relation(wanted, view_columns(store))
    cond = f" WHERE ({where}\n)" if where and where.strip() else ""
    _, total = run_read_query(store, f"SELECT count(*) FROM {relation}{cond}")
    direction = "DESC" if descending else "ASC"
    tie = "run_id"
    order = tie
    if order_by is not None:
        col = _quote(order_by)
        # Config fields are text: numbers among them sort as numbers.
        order = (f"TRY_CAST({col} AS DOUBLE) {direction} NULLS LAST, {col} {direction} NULLS "
                 f"LAST, {tie}" if _CONFIG.fullmatch(order_by)
                 else f"{col} {direction} NULLS LAST, {tie}")
    shown = ", ".join(_quote(c) for c in columns)
    names, rows = run_read_query(
        store, f"SELECT {shown} FROM {relation}{cond} ORDER BY {order} "
        f"LIMIT {limit} OFFSET {offset}")
    return {"columns": names, "rows": [[plain(v) for v in r] for r in rows],
            "total": int(total[0][0])}


@register_read("runs_column_choices")
def runs_column_choices(store: Store) -> dict:
    """What a runs table can show: the view's columns, the config fields stored with runs,
    and the logged metrics (each usable as min(…), max(…), last(…))."""
    view = [c for c in view_columns(store) if c != "config"]
    _, rows = store.query(
        "SELECT DISTINCT s.key || '.' || f.key FROM (SELECT config FROM runs "
        "ORDER BY run_id DESC LIMIT 200) r, json_each(r.config) s, json_each(s.value) f "
        "WHERE s.key IN ('model', 'data', 'train') ORDER BY 1")
    _, metrics = store.query("SELECT DISTINCT name FROM metrics ORDER BY 1")
    return {"view": view, "config": [r[0] for r in rows], "metrics": [r[0] for r in metrics]}
