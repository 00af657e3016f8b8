"""Reads for crosscoders: the stored toy runs a crosscoder diffs (for planning its units),
and its results for the command line, figures and the report (registered into READS).

Results come back as columns ({"column": [values, ...]}), like the figure reads.
"""

from __future__ import annotations

import json

from ..errors import StoreError
from ..registry import plain, register_read, rows_as_dicts
from ..store import Store


def _columns(names: list[str], rows: list) -> dict[str, list]:
    return {n: [plain(r[j]) for r in rows] for j, n in enumerate(names)}


def source_runs(store: Store, run_ids: list[int]) -> dict[int, dict]:
    """The runs' setup, data config and weights: run_id -> {kind, n_features, d_hidden,
    n_experts, k, gating, experiment_id, status, config (dict), W [E][m·n], router [E][n]}.
    Runs that do not exist are left out."""
    ids = sorted({int(r) for r in run_ids})
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    names, rows = store.query(
        "SELECT run_id, kind, n_features, d_hidden, n_experts, k, gating, experiment_id, "
        f"status, config FROM store.runs WHERE run_id IN ({marks})", ids)
    out = {int(r[0]): dict(zip(names, r, strict=True)) for r in rows}
    _, weights = store.query(
        f"SELECT run_id, expert, W, router FROM store.weights WHERE run_id IN ({marks}) "
        "ORDER BY run_id, expert", ids)
    for run in out.values():
        run["config"] = json.loads(run["config"]) if run.get("config") else {}
        run["W"], run["router"] = [], []
    for run_id, _expert, W, router in weights:
        if int(run_id) in out:
            out[int(run_id)]["W"].append(list(W or []))
            out[int(run_id)]["router"].append(list(router or []))
    return out


def experiment_pairs(store: Store, experiment_id: int) -> list[tuple[int, int]]:
    """(dense run, MoE run) of a finished experiment that saw the same inputs: the same seed
    and the same data settings (so the same sample streams: engine.train.data_key; for
    language models, lm-dense and lm-moe runs: the same batches of the same text), ordered
    by the MoE run. Raises StoreError when the experiment is missing or not done."""
    _, rows = store.query("SELECT status FROM store.experiments WHERE experiment_id = ?",
                          [int(experiment_id)])
    if not rows:
        raise StoreError(f"no experiment with id {experiment_id} to take the crosscoders' "
                         "runs from")
    if rows[0][0] != "done":
        raise StoreError(f"experiment {experiment_id} is {rows[0][0]}, not done: its runs "
                         "cannot be diffed yet")
    _, pairs = store.query(
        "SELECT d.run_id, m.run_id FROM store.runs d JOIN store.runs m "
        "  ON d.experiment_id = m.experiment_id AND d.seed = m.seed "
        " AND d.n_features IS NOT DISTINCT FROM m.n_features "
        " AND json_extract(d.config, '$.data') = json_extract(m.config, '$.data') "
        "WHERE d.experiment_id = ? AND ((d.kind = 'dense' AND m.kind = 'moe') "
        "  OR (d.kind = 'lm-dense' AND m.kind = 'lm-moe')) "
        "ORDER BY m.run_id, d.run_id", [int(experiment_id)])
    return [(int(d), int(m)) for d, m in pairs]


@register_read("crosscoder_summary")
def crosscoder_summary(store: Store, experiment_id: int) -> dict:
    """One row per crosscoder of the experiment (the crosscoders view) with the setups of
    the two runs it diffs."""
    names, rows = store.query(
        "SELECT c.*, d.d_hidden AS dense_d_hidden, m.n_experts AS moe_n_experts, "
        "       m.k AS moe_k, m.d_hidden AS moe_d_hidden, m.n_features, m.seed AS model_seed, "
        "       d.kind AS dense_kind, d.experiment_id AS source_experiment "
        "FROM crosscoders c JOIN runs d ON d.run_id = c.dense_run_id "
        "JOIN runs m ON m.run_id = c.moe_run_id "
        "WHERE c.experiment_id = ? ORDER BY c.run_id", [int(experiment_id)])
    return _columns(names, rows)


@register_read("crosscoder_latents")
def crosscoder_latents(store: Store, experiment_id: int) -> dict:
    """Every latent of the experiment's crosscoders: norms, relative norm, class, density."""
    names, rows = store.query(
        "SELECT l.run_id, l.latent, l.designated, l.norm_dense, l.norm_moe, l.relative_norm, "
        "       l.class, l.density, l.decoder_cosine "
        "FROM crosscoder_latents l JOIN runs r USING (run_id) "
        "WHERE r.experiment_id = ? ORDER BY l.run_id, l.latent", [int(experiment_id)])
    return _columns(names, rows)


@register_read("crosscoder_features")
def crosscoder_features(store: Store, experiment_id: int) -> dict:
    """Per crosscoder and input feature: where the feature is really represented and how
    well (and by which class of latent) the crosscoder found it in each model."""
    names, rows = store.query(
        "SELECT f.* FROM crosscoder_features f JOIN runs r USING (run_id) "
        "WHERE r.experiment_id = ? ORDER BY f.run_id, f.feature", [int(experiment_id)])
    return _columns(names, rows)


# -- the TUI's crosscoder panel ----------------------------------------------------------------

@register_read("crosscoder_list")
def crosscoder_list(store: Store) -> list[dict]:
    """Every stored crosscoder, newest first, with its experiment and the setups of the two
    runs it diffs (the panel's picker)."""
    names, rows = store.query(
        "SELECT c.run_id, c.experiment_id, e.name AS experiment, c.seed, c.dense_run_id, "
        "       c.moe_run_id, c.n_latents, c.k, c.n_designated, d.d_hidden AS dense_d_hidden, "
        "       m.n_experts AS moe_n_experts, m.k AS moe_k, m.d_hidden AS moe_d_hidden, "
        "       m.n_features "
        "FROM crosscoders c JOIN experiments e USING (experiment_id) "
        "JOIN runs d ON d.run_id = c.dense_run_id JOIN runs m ON m.run_id = c.moe_run_id "
        "ORDER BY c.run_id DESC")
    return rows_as_dicts(names, rows)


@register_read("crosscoder_panel")
def crosscoder_panel(store: Store, run_id: int) -> dict | None:
    """One crosscoder for the panel: its summary row (the crosscoders view), its latents
    (relative norm, class, density, designated) and its features against the truth
    (the crosscoder_features view), as lists of rows; None when there is no such one."""
    names, rows = store.query("SELECT * FROM crosscoders WHERE run_id = ?", [int(run_id)])
    if not rows:
        return None
    lnames, latents = store.query(
        "SELECT latent, designated, relative_norm, class, density FROM crosscoder_latents "
        "WHERE run_id = ? ORDER BY latent", [int(run_id)])
    fnames, features = store.query(
        "SELECT feature, truth, dense_norm, moe_norm, dense_cosine, dense_latent_class, "
        "       moe_cosine, moe_latent_class "
        "FROM crosscoder_features WHERE run_id = ? ORDER BY feature", [int(run_id)])
    return {"summary": rows_as_dicts(names, rows)[0],
            "latents": rows_as_dicts(lnames, latents),
            "features": rows_as_dicts(fnames, features)}
