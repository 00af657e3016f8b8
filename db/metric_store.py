"""Writes of custom metrics: the registry (`moelab metric add`) and the values
`moelab metric compute` fills for stored runs. Each call is one transaction.

Values of new runs arrive with their unit instead (chunk tables custom_metrics and
custom_metric_errors, db/bulk.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .clock import utc_now
from .errors import StoreError
from .store import Store

_VALUES = "_moelab_metric_values"
_ERRORS = "_moelab_metric_errors"


def add_metric(store: Store, name: str, target: str, options: dict | None = None,
               path: str = "") -> None:
    """Register (or re-register) a metric under name."""
    with store._transaction("registering a metric") as con:
        con.execute("DELETE FROM store.metric_registry WHERE name = ?", [name]).fetchall()
        con.execute("INSERT INTO store.metric_registry (name, target, options, path, added_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [name, target, json.dumps(options or {}), path, utc_now()]).fetchall()


def remove_metric(store: Store, name: str) -> bool:
    """Forget a metric (its stored values stay); False when it was not registered."""
    with store._transaction("removing a metric") as con:
        found = con.execute("SELECT count(*) FROM store.metric_registry WHERE name = ?",
                            [name]).fetchall()[0][0]
        con.execute("DELETE FROM store.metric_registry WHERE name = ?", [name]).fetchall()
    return bool(found)


def store_metric_values(store: Store, name: str, run_ids: Sequence[int],
                        values: dict[str, Sequence], errors: dict[str, Sequence]) -> int:
    """Replace the metric's values and errors of run_ids: values has columns run_id, expert,
    feature, value (expert / feature None when not per expert / feature), errors run_id and
    error. Returns the rows stored."""
    import pyarrow as pa
    ids = sorted({int(i) for i in run_ids})
    try:
        vals = pa.table({"run_id": pa.array(values["run_id"], pa.int64()),
                         "expert": pa.array(values["expert"], pa.int32()),
                         "feature": pa.array(values["feature"], pa.int32()),
                         "value": pa.array(values["value"], pa.float64(), from_pandas=True)})
        errs = pa.table({"run_id": pa.array(errors["run_id"], pa.int64()),
                         "error": pa.array(errors["error"], pa.string())})
    except (KeyError, TypeError, ValueError, pa.ArrowException) as err:
        raise StoreError(f"metric values for {name!r} are malformed: {err}") from None
    with store._transaction("storing metric values") as con:
        con.register("_moelab_ids", pa.table({"run_id": pa.array(ids, pa.int64())}))
        con.register(_VALUES, vals)
        con.register(_ERRORS, errs)
        try:
            known = con.execute("SELECT count(*) FROM store.runs WHERE run_id IN "
                                "(SELECT run_id FROM _moelab_ids)").fetchall()[0][0]
            if known != len(ids):
                raise StoreError(f"{len(ids) - known} of the runs are not in the store")
            for table in ("custom_metrics", "custom_metric_errors"):
                con.execute(f"DELETE FROM store.{table} WHERE name = ? AND run_id IN "
                            "(SELECT run_id FROM _moelab_ids)", [name]).fetchall()
            con.execute("INSERT INTO store.custom_metrics (run_id, name, expert, feature, "
                        f"value) SELECT run_id, ?, expert, feature, value FROM {_VALUES}",
                        [name]).fetchall()
            con.execute("INSERT INTO store.custom_metric_errors (run_id, name, error) "
                        f"SELECT run_id, ?, error FROM {_ERRORS}", [name]).fetchall()
        finally:
            for view in ("_moelab_ids", _VALUES, _ERRORS):
                con.unregister(view)
    return vals.num_rows
