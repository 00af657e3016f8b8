"""A phase-diagram experiment's cells, as the comparisons read them (`moelab compare`, the
phase-diff figure and the noise floor): the chosen run of each cell, its last feature's norms
and class."""

from __future__ import annotations

from moelab.engine.compare import Cell, last_class

from .data import as_rows, group


def cells_of(client, experiment_id: int) -> dict[tuple, dict[tuple, Cell]]:
    """setup (n, m, E) -> {(sparsity, last importance) -> the chosen run's Cell}."""
    rows = as_rows(client.read("last_feature_cells", experiment_id=int(experiment_id)))
    out: dict[tuple, dict[tuple, Cell]] = {}
    for fs in group(rows, lambda r: r["run_id"]).values():
        f0 = fs[0]
        fs = sorted(fs, key=lambda f: f["expert"])
        norms = [f["norm"] for f in fs]
        cell = Cell.of(norms, last_class(norms, [bool(f["monosemantic"]) for f in fs]))
        setup = (f0["n_features"], f0["d_hidden"], f0["n_experts"])
        out.setdefault(setup, {})[(f0["sparsity"], f0["last_importance"])] = cell
    return out
