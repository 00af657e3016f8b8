"""The phase diagram's data in one read (registered into db.reads.READS): every setup of an
experiment swept over sparsity × last-feature importance, with the last feature of each
chosen run per expert.

One query for all setups, NaN turned into NULL in SQL, rows as plain dicts: the per-setup
reads with a per-value conversion took 0.7 s on 10,000 runs, this takes under 0.1 s.
"""

from __future__ import annotations

from .reads import nan_as_null, register_read
from .reads_panels import phase_setups
from .store import Store

_FLOATS = ("eval_loss", "norm", "superposition", "superposition_all", "dimensionality")


@register_read("phase_grids")
def phase_grids(store: Store, experiment_id: int) -> list[dict]:
    """Per setup (as phase_setups lists them): its sparsity and last-importance values, its
    number of experts, and cells {run_id, sparsity, last_importance, eval_loss, expert, norm,
    superposition, superposition_all, dimensionality, monosemantic}."""
    setups = phase_setups(store, experiment_id)
    if not setups:
        return []
    floats = ", ".join(
        f"{nan_as_null(('r.' if c == 'eval_loss' else 'f.') + c)} AS {c}" for c in _FLOATS)
    # Fetched column by column (a third of the time of rows of Python objects).
    cols = store.query_columns(
        "SELECT r.n_features, r.d_hidden, r.n_experts, r.run_id, "
        "round(r.sparsity, 6) AS sparsity, round(r.last_importance, 6) AS last_importance, "
        f"f.expert, f.monosemantic, {floats} "
        "FROM runs r JOIN features f ON f.run_id = r.run_id AND f.feature = r.n_features - 1 "
        "WHERE r.experiment_id = ? AND r.chosen ORDER BY f.expert, sparsity, last_importance",
        [int(experiment_id)])
    keys = list(cols)[3:]
    by_setup: dict[tuple, list[dict]] = {}
    for n, m, e, *values in zip(cols["n_features"], cols["d_hidden"], cols["n_experts"],
                                *(cols[k] for k in keys), strict=True):
        by_setup.setdefault((n, m, e), []).append(dict(zip(keys, values, strict=True)))
    out = []
    for s in setups:
        cells = by_setup.get((s["n_features"], s["d_hidden"], s["n_experts"]), [])
        out.append({"setup": s, "n_experts": int(s["n_experts"]), "cells": cells,
                    "sparsity": sorted({c["sparsity"] for c in cells}),
                    "last_importance": sorted({c["last_importance"] for c in cells})})
    return out
