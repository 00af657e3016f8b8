"""The crosscoder section of REPORT.md, and the same measurements for `moelab crosscode`:
the three claims of the crosscoder paper (Chaudhari, Hundia, Gulati), measured on toy models
whose true features we know, with every seed, 95 % intervals and leave-one-out checks.

1. ~87 % of the variance is explained (measure: FVE per space, both ≥ 0.87).
2. The MoE learns fewer unique features than the dense model (measure: dense-only minus
   MoE-only latents per crosscoder > 0), next to the truth: features the dense model
   represents and the MoE does not, and the reverse (norm ≥ 0.5 in the one-hot response).
3. MoE-only latents fire more densely than shared ones, dense-only ones less (measure: the
   paired differences of mean density per crosscoder, > 0 and < 0).
Recovery: the mean best decoder cosine of the represented features per model (MCC-style).
"""

from __future__ import annotations

from moelab.engine.crosscoder_config import FAMILY
from moelab.engine.families import family_of

from .data import as_rows, group, mean_ci
from .report_format import table
from .verdicts import AGREES, DIFFERS, PARTLY, extremes, pm, robust

PAPER = {
    "fve": "BatchTopK crosscoders with designated shared features explain ~87 % of the "
           "variance of both models' activations.",
    "unique": "The MoE learns significantly fewer unique features than the dense model.",
    "density": "MoE-specific features fire more densely than shared ones, while "
               "dense-specific features fire less densely.",
}


NO_TRUTH = "no ground truth for language models (only toy models' input features are known)"


def setup_label(r: dict) -> str:
    return f"MoE E={r['moe_n_experts']} k={r['moe_k']} m={r['moe_d_hidden']}"


def _sign_verdict(values: list[float], want: int) -> tuple[str, str]:
    """agrees when the mean has the wanted sign and its 95 % interval excludes 0, differs
    when both say the opposite, partly otherwise or when one left-out sample flips it."""
    def decide(groups):
        m, h, n = mean_ci(groups[0])
        if n < 2 or m != m:
            return PARTLY
        if want * m > 0 and abs(m) > h:
            return AGREES
        return DIFFERS if want * m < 0 and abs(m) > h else PARTLY
    vals = [v for v in values if v is not None and v == v]
    word, stable = robust(decide, [vals], extremes)
    if not vals:
        return PARTLY, "no crosscoder had latents of both classes"
    return (word if stable else PARTLY), pm(vals) + ("" if stable else
                                                    "; one left-out crosscoder flips it")


def measure(rows: list[dict], features: list[dict]) -> list[dict]:
    """Per MoE setup (and over all when there are several): the claims and the recovery."""
    by = group(rows, setup_label)
    if len(by) > 1:
        by["all setups"] = rows
    feats = group(features, lambda f: f["run_id"])
    out = []
    for label, rs in by.items():
        fve = [min(r["fve_dense"], r["fve_moe"]) for r in rs]
        lo = min(mean_ci(fve)[0] - mean_ci(fve)[1], min(fve))
        fve_word = AGREES if lo >= 0.87 else (DIFFERS if max(fve) < 0.87 else PARTLY)
        unique = [r["n_dense_only"] - r["n_moe_only"] for r in rs]
        truth = [_truth(feats.get(r["run_id"], [])) for r in rs]
        one = [_one_latent(feats.get(r["run_id"], [])) for r in rs]
        moe_dense = [_diff(r["density_moe_only"], r["density_shared"]) for r in rs]
        dense_shared = [_diff(r["density_dense_only"], r["density_shared"]) for r in rs]
        w_moe, d_moe = _sign_verdict(moe_dense, +1)
        w_dense, d_dense = _sign_verdict(dense_shared, -1)
        w_unique, d_unique = _sign_verdict(unique, +1)
        out.append({
            "setup": label, "n": len(rs),
            "truth": any(feats.get(r["run_id"]) for r in rs),
            "seeds": sorted({r["model_seed"] for r in rs}),
            "fve_dense": pm([r["fve_dense"] for r in rs]),
            "fve_moe": pm([r["fve_moe"] for r in rs]), "fve_word": fve_word,
            "dense_only": pm([r["n_dense_only"] for r in rs]),
            "moe_only": pm([r["n_moe_only"] for r in rs]),
            "shared": pm([r["n_shared"] for r in rs]),
            "unique_word": w_unique, "unique_detail": d_unique,
            "truth_dense_only": pm([t["dense-only"] for t in truth]),
            "truth_moe_only": pm([t["moe-only"] for t in truth]),
            "truth_shared": pm([t["shared"] for t in truth]),
            "one_latent": pm([v for v in one if v is not None]),
            "density": {k: pm([r[f"density_{k}"] for r in rs if r[f"density_{k}"] is not None])
                        for k in ("shared", "designated", "dense_only", "moe_only")},
            "density_word": _both(w_moe, w_dense),
            "density_detail": f"MoE-only − shared {d_moe}; dense-only − shared {d_dense}",
            "mcc_dense": pm([r["mcc_dense"] for r in rs if r["mcc_dense"] is not None]),
            "mcc_moe": pm([r["mcc_moe"] for r in rs if r["mcc_moe"] is not None]),
        })
    return out


def _diff(a, b):
    return None if a is None or b is None else a - b


def _truth(features: list[dict]) -> dict:
    counts = {"shared": 0, "dense-only": 0, "moe-only": 0, "neither": 0}
    for f in features:
        counts[f["truth"]] += 1
    return counts


def _one_latent(features: list[dict]) -> float | None:
    """Share of the features truly in both models that one shared latent finds in both
    spaces (the same best latent); the rest were split into per-model latents."""
    both = [f for f in features if f["truth"] == "shared"]
    if not both:
        return None
    return sum(f["dense_latent"] == f["moe_latent"] and f["dense_latent_class"] == "shared"
               for f in both) / len(both)


def _both(a: str, b: str) -> str:
    return a if a == b else PARTLY


def claim_lines(rows: list[dict], features: list[dict]) -> list[str]:
    """The claims as a few lines for the terminal."""
    lines = []
    for m in measure(rows, features):
        truth = (f"; truly represented by one model only: dense {m['truth_dense_only']}, "
                 f"MoE {m['truth_moe_only']}") if m["truth"] else ""
        lines += [f"[bold]{m['setup']}[/] ({m['n']} crosscoders, model seeds {m['seeds']}; "
                  "mean ± 95 % interval)",
                  f"  variance explained: dense {m['fve_dense']}, MoE {m['fve_moe']} "
                  f"(paper ~0.87): {m['fve_word']}",
                  f"  unique latents: dense-only {m['dense_only']}, MoE-only {m['moe_only']} "
                  f"(paper: MoE fewer): {m['unique_word']}{truth}",
                  f"  density: {m['density_detail']} (paper: > 0 and < 0): "
                  f"{m['density_word']}",
                  f"  recovery (mean best cosine of represented features): dense "
                  f"{m['mcc_dense']}, MoE {m['mcc_moe']}; features in both models found "
                  f"by one shared latent: {m['one_latent']}" if m["truth"] else
                  f"  recovery: {NO_TRUTH}"]
    return lines


def section(client) -> list[str]:
    """REPORT.md lines for every finished crosscoder experiment in the database."""
    lines = ["## Crosscoders: diffing a dense and an MoE model", ""]
    ids = [e["experiment_id"] for e in client.read("experiments")
           if e.get("status") == "done" and family_of(e.get("config") or "{}").FAMILY == FAMILY]
    if not ids:
        return lines + ["No crosscoder experiment in this database; `moelab crosscode --preset "
                        "fig1-2` trains one (and `--preset fig3` the n = 100 case).", ""]
    for eid in ids:
        rows = as_rows(client.read("crosscoder_summary", experiment_id=eid))
        features = as_rows(client.read("crosscoder_features", experiment_id=eid))
        if not rows:
            continue
        lines += [f"### Experiment {eid}", ""]
        if any(str(r.get("dense_kind") or "").startswith("lm-") for r in rows):
            from .report_crosscoder_lm import lm_lines
            lines += lm_lines(client, rows, measure(rows, features), PAPER, NO_TRUTH)
            continue
        for m in measure(rows, features):
            lines += [f"**{m['setup']}**: {m['n']} crosscoders on model seeds {m['seeds']}; "
                      "mean ± 95 % interval over crosscoders.", "",
                      table(["", "dense", "MoE"], [
                          ["variance explained", m["fve_dense"], m["fve_moe"]],
                          ["model-only latents", m["dense_only"], m["moe_only"]],
                          ["features truly in one model only", m["truth_dense_only"],
                           m["truth_moe_only"]],
                          ["mean density of model-only latents", m["density"]["dense_only"],
                           m["density"]["moe_only"]],
                          ["recovery: mean best cosine (represented features)",
                           m["mcc_dense"], m["mcc_moe"]]]), "",
                      f"Shared latents {m['shared']} (density {m['density']['shared']}; "
                      f"designated ones {m['density']['designated']}); features truly in "
                      f"both models {m['truth_shared']}, of which found by one shared latent "
                      f"in both spaces (share) {m['one_latent']}; the rest were split into a "
                      "dense-only and an MoE-only latent or found by different latents.", "",
                      f"**Paper:** {PAPER['fve']} **Verdict:** {m['fve_word']} "
                      "(measure: FVE of both spaces ≥ 0.87)", "",
                      f"**Paper:** {PAPER['unique']} **Verdict:** {m['unique_word']}: "
                      f"dense-only − MoE-only latents {m['unique_detail']} (measure: > 0, "
                      "interval excluding 0)", "",
                      f"**Paper:** {PAPER['density']} **Verdict:** {m['density_word']}: "
                      f"{m['density_detail']} (measure: > 0 and < 0, intervals excluding 0)",
                      ""]
    return lines

