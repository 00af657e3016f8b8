"""Reads behind the Compare view (registered into db.registry.READS): several runs side by side.

The runs come by id (the user marks them); each read returns plain JSON-able data.
"""

from __future__ import annotations

import json

from ..errors import StoreError
from ..registry import plain, register_read, rows_as_dicts
from ..store import Store

COMPARE_MAX = 500  # runs in one comparison


def _ids(run_ids) -> list[int]:
    ids = sorted({int(i) for i in run_ids})
    if len(ids) > COMPARE_MAX:
        raise StoreError(f"compare at most {COMPARE_MAX} runs at once (got {len(ids)})")
    return ids


@register_read("compare_runs")
def compare_runs(store: Store, run_ids: list[int]) -> list[dict]:
    """Each run's row of the runs view, with its config parsed."""
    ids = _ids(run_ids)
    if not ids:
        return []
    names, rows = store.query(
        "SELECT * FROM runs WHERE list_contains(?, run_id) ORDER BY run_id", [ids])
    out = rows_as_dicts(names, rows)
    for r in out:
        r["config"] = json.loads(r["config"]) if r.get("config") else {}
    return out


@register_read("compare_curves")
def compare_curves(store: Store, run_ids: list[int], metric: str = "loss") -> dict:
    """One logged metric of each run by step: {run_id (as text): [[step, value], …]}."""
    ids = _ids(run_ids)
    out: dict[str, list] = {str(i): [] for i in ids}
    if not ids:
        return out
    _, rows = store.query(
        "SELECT run_id, step, value FROM metrics WHERE list_contains(?, run_id) AND name = ? "
        "ORDER BY run_id, step", [ids, str(metric)])
    for run_id, step, value in rows:
        out[str(run_id)].append([step, plain(value)])
    return out


@register_read("compare_metric_names")
def compare_metric_names(store: Store, run_ids: list[int]) -> list[str]:
    ids = _ids(run_ids)
    if not ids:
        return []
    _, rows = store.query(
        "SELECT DISTINCT name FROM metrics WHERE list_contains(?, run_id) ORDER BY 1", [ids])
    return [r[0] for r in rows]


@register_read("compare_weights")
def compare_weights(store: Store, run_ids: list[int]) -> dict:
    """Per run and expert: the Gram matrix WᵀW and its features, {run_id (as text):
    [{expert, gram, features: [{feature, norm, bias, superposition, monosemantic}]}]}."""
    ids = _ids(run_ids)
    out: dict[str, list] = {str(i): [] for i in ids}
    if not ids:
        return out
    _, weights = store.query(
        "SELECT w.run_id, w.expert, r.n_features, r.d_hidden, w.W FROM weights w "
        "JOIN runs r ON r.run_id = w.run_id WHERE list_contains(?, w.run_id) "
        "ORDER BY w.run_id, w.expert", [ids])
    _, feats = store.query(
        "SELECT run_id, expert, feature, norm, bias, superposition, monosemantic FROM features "
        "WHERE list_contains(?, run_id) ORDER BY run_id, expert, feature", [ids])
    by_expert: dict[tuple, list] = {}
    for run_id, expert, feature, norm, bias, sp, mono in feats:
        by_expert.setdefault((run_id, expert), []).append(
            {"feature": feature, "norm": plain(norm), "bias": plain(bias),
             "superposition": plain(sp), "monosemantic": bool(mono)})
    for run_id, expert, n, m, W in weights:
        cols = [[W[r * n + i] for r in range(m)] for i in range(n)]  # W_i, one per feature
        gram = [[sum(a * b for a, b in zip(cols[i], cols[j], strict=True)) for j in range(n)]
                for i in range(n)]
        out[str(run_id)].append({"expert": expert, "gram": plain(gram),
                                 "features": by_expert.get((run_id, expert), [])})
    return out


@register_read("controls_of")
def controls_of(store: Store, experiment_id: int) -> list[dict]:
    """Experiments queued as seed controls of this one (`--control`: named "… (control of
    N)"), newest first, with their status and config to check against the original's."""
    names, rows = store.query(
        "SELECT experiment_id, name, status, config FROM experiments WHERE name LIKE ? "
        "ORDER BY experiment_id DESC", [f"% (control of {int(experiment_id)})"])
    return rows_as_dicts(names, rows)
