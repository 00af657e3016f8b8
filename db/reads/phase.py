"""The phase diagram's data in one read (registered into db.registry.READS): every setup of an
experiment swept over sparsity × last-feature importance, with the last feature of each
chosen run per expert.

One query for all setups, NaN turned into NULL in SQL, fetched column by column and handed
on as columns (a list per field per setup): the per-setup reads with a per-value conversion
took 0.7 s on 10,000 runs, rows as one dict per cell 0.14 s, columns 0.03 s.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from moelab.schema import PHASE_FIELDS

from ..registry import nan_as_null, register_read
from ..store import Store
from .panels import phase_setups

_FIELDS = {f.column: ("r." if f.table == "runs" else "f.") + f.column for f in PHASE_FIELDS}
# A setup as one ordered number (each size below 2**21), so that a setup's cells are found
# by bisection in the column instead of comparing 20,000 tuples.
_SETUP_KEY = "(r.n_features::BIGINT << 42) + (r.d_hidden::BIGINT << 21) + r.n_experts"


def _setup_key(n_features: int, d_hidden: int, n_experts: int) -> int:
    return (int(n_features) << 42) + (int(d_hidden) << 21) + int(n_experts)


@register_read("phase_grids")
def phase_grids(store: Store, experiment_id: int) -> list[dict]:
    """Per setup (as phase_setups lists them): its sparsity and last-importance values, its
    number of experts, and its cells as columns {run_id, sparsity, last_importance, expert,
    monosemantic, eval_loss, norm, superposition, superposition_all, dimensionality}: one
    list per field, a cell per position, ordered by expert, sparsity, last importance."""
    setups = phase_setups(store, experiment_id)
    if not setups:
        return []
    floats = ", ".join(
        f"{nan_as_null(stored)} AS {column}" for column, stored in _FIELDS.items())
    cols = store.query_columns(
        f"SELECT {_SETUP_KEY} AS setup_key, r.run_id, "
        "round(r.sparsity, 6) AS sparsity, round(r.last_importance, 6) AS last_importance, "
        f"f.expert, f.monosemantic, {floats} "
        "FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1 "
        "WHERE r.experiment_id = ? AND r.chosen "
        "ORDER BY setup_key, f.expert, sparsity, last_importance",
        [int(experiment_id)])
    keys = list(cols)[1:]
    # Each setup is one contiguous slice of the columns (the setup leads the order).
    setup_of = cols["setup_key"]
    out = []
    for s in setups:
        key = _setup_key(s["n_features"], s["d_hidden"], s["n_experts"])
        lo, hi = bisect_left(setup_of, key), bisect_right(setup_of, key)
        columns = {k: cols[k][lo:hi] for k in keys}
        out.append({"setup": s, "n_experts": int(s["n_experts"]), "columns": columns,
                    "sparsity": sorted(set(columns["sparsity"])),
                    "last_importance": sorted(set(columns["last_importance"]))})
    return out


@register_read("phase_planned")
def phase_planned(store: Store) -> list[int]:
    """Queued or running experiments whose config sweeps sparsity and last-feature
    importance (two values or more each): the phase diagram lists them before their first
    runs are stored, and fills in as they are."""
    axis = "json_array_length(config, '$.sweep.axes.\"data.{}\"')"
    _, rows = store.query(
        "SELECT experiment_id FROM experiments WHERE status IN ('queued', 'running') "
        f"AND {axis.format('sparsity')} > 1 AND {axis.format('last_importance')} > 1 "
        "ORDER BY experiment_id DESC")
    return [int(r[0]) for r in rows]
