"""REPORT.md's section on small language models (the lm family, docs/lm.md): for each
finished lm experiment, MoE Lens' three findings on DeepSeekMoE set beside our numbers on
the experiment's MoE models with k > 1 (with k = 1 the top expert is the whole output, so
the first two hold trivially), each as question, measure and answer with a verdict in the
robust form of verdicts.py: a sample is one (MoE model, held-out domain), so the spread is
over domains and seeds; mean ± 95 % interval, and a verdict that leaving out one sample
would flip reads "partly".

1. The top-weighted expert's output approximates the full mixture: hidden-state cosine up
   to 0.95 (measure: the best layer's cos_hidden per model and domain).
2. With only the top expert the perplexity rises about 5 % (measure: top1_increase, the
   top expert alone at every layer, at the last snapshot).
3. Routing is concentrated: a few experts take over half the routing weight per domain
   (measure: the top quarter's share of the routing weight, mean over layers).
"""

from __future__ import annotations

from collections.abc import Sequence

from moelab.engine.families import family_of

from .data import mean_ci
from .report_format import fmt, table
from .verdicts import AGREES, DIFFERS, PARTLY, Verdict, extremes, pm, robust

PAPER_MODEL = "DeepSeekMoE 16B (about 16 B weights, 2.8 B active per token)"
CLAIMS = (
    ("Does the top-weighted expert alone approximate the full mixture layer by layer?",
     "MoE Lens: the hidden state with only the top-weighted expert has cosine similarity up "
     "to 0.95 with the full one."),
    ("What does keeping only the top expert cost?",
     "MoE Lens: perplexity only about 5 % worse with a single expert."),
    ("Is routing concentrated on a few experts per domain?",
     "MoE Lens: very few experts take over 50 % of the routing per domain."),
)


def mean_band(values: Sequence[float], agree: float, partly: float,
              higher: bool = True) -> tuple[str, bool]:
    """(word, stable): agrees when the mean is at or beyond `agree` (≥ when higher, else ≤),
    partly at or beyond `partly`, differs otherwise; recomputed with the smallest and the
    largest sample left out: a word that either would change is reported as partly."""
    def level(groups):
        m = mean_ci(groups[0])[0]
        if m != m:
            return PARTLY
        beyond = (lambda t: m >= t) if higher else (lambda t: m <= t)
        return AGREES if beyond(agree) else (PARTLY if beyond(partly) else DIFFERS)
    vals = [float(v) for v in values if v is not None and v == v]
    if not vals:
        return PARTLY, False
    word, stable = robust(level, [vals], extremes)
    return (word if stable else PARTLY), stable


def _verdict(values: list[float], agree: float, partly: float, higher: bool,
             measure: str, pct: bool = False) -> Verdict:
    word, stable = mean_band(values, agree, partly, higher)
    if not values:
        return Verdict(PARTLY, "no MoE model with k > 1 to measure", measure)
    f = (lambda v: f"{100 * v:+.1f} %") if pct else (lambda v: f"{v:.3f}")
    shown = pm(values) if not pct else pm([100 * v for v in values], 2).replace(" (", " % (")
    detail = (f"{shown}, range {f(min(values))} to {f(max(values))} over "
              "models and domains" + ("" if stable or len(values) < 2 else
                                      "; one left-out sample flips it, so only partly"))
    return Verdict(word, detail, measure)


def measure(panel: dict) -> dict:
    """Per (MoE model with k > 1, domain): the best layer's cosine (and which layer), the
    rise of perplexity with only the top expert, the top quarter's mean share; verdicts."""
    runs = [r for r in panel["runs"] if r["k"] > 1]
    samples = []
    for run in runs:
        lens = [x for x in panel["lens"] if x["run_id"] == run["run_id"]]
        for d in [x for x in panel["domains"] if x["run_id"] == run["run_id"]]:
            rows = [x for x in lens if x["domain"] == d["domain"]]
            if not rows:
                continue
            best = max(rows, key=lambda x: x["cos_hidden"] if x["cos_hidden"] is not None
                       else -2.0)
            samples.append({
                "run_id": run["run_id"], "seed": run["seed"], "domain": d["domain"],
                "cos": best["cos_hidden"], "best_layer": best["layer"],
                "rise": d["top1_increase"],
                "quarter": mean_ci(x["share_top_quarter"] for x in rows)[0],
                "top1": mean_ci(x["share_top1"] for x in rows)[0],
                "worst": d["worst_increase"], "perplexity": d["perplexity"],
                "perplexity_top1": d["perplexity_top1"]})
    get = lambda k: [s[k] for s in samples if s[k] is not None]  # noqa: E731
    even = sorted({-(-r["n_experts"] // 4) / r["n_experts"] for r in runs})
    return {"runs": runs, "samples": samples, "verdicts": [
        _verdict(get("cos"), 0.9, 0.8, True, "the best layer's hidden-state cosine (top-1 "
                 "vs all k experts) per model and domain; agrees when the mean is ≥ 0.90 "
                 "(within 0.05 of MoE Lens' 0.95, or above), partly at ≥ 0.80"),
        _verdict(get("rise"), 0.10, 0.25, False, "held-out perplexity with only the top "
                 "expert at every layer ÷ with all k, minus 1, per model and domain; agrees "
                 "when the mean rise is ≤ 10 % (MoE Lens: about 5 %), partly at ≤ 25 %",
                 pct=True),
        _verdict(get("quarter"), 0.5, (0.5 + max(even, default=0.25)) / 2, True,
                 "the top quarter of the experts' share of the routing weight, mean over "
                 "layers, per model and domain; agrees when the mean is ≥ 0.5 (an even split "
                 f"gives {', '.join(f'{e:.2f}' for e in even) or '1/4'}), partly when it is "
                 "at least halfway there from the even split")]}


def size_line(runs: list[dict], n_dense: int) -> str:
    shapes = sorted({(r["n_layers"], r["d_model"], r["n_experts"], r["k"], r["n_params"],
                      r["n_active_params"], r["tokens_trained"]) for r in runs})
    text = "; ".join(f"{L} layers, d_model {D}, E = {E}, k = {k}: {n:,} weights ({a:,} active "
                     f"per token), trained on {t:,} tokens" for L, D, E, k, n, a, t in shapes)
    return (f"Model size: {text} ({len(runs)} MoE model(s) with k > 1, {n_dense} dense) — "
            f"against {PAPER_MODEL}. A model this small is not DeepSeekMoE: read agreement "
            "as the lab measuring the same quantities, not as a replication.")


def section(client) -> list[str]:
    """REPORT.md lines for every finished lm experiment in the database."""
    lines = ["## MoE Lens on small language models", ""]
    ids = [e["experiment_id"] for e in client.read("experiments")
           if e.get("status") == "done" and family_of(e.get("config") or "{}").FAMILY == "lm"]
    if not ids:
        return lines + ["No language-model experiment in this database; `moelab run lm-pair "
                        "--quick` trains a dense and an MoE model and measures MoE Lens on "
                        "the MoE (docs/lm.md).", ""]
    for eid in ids:
        lines += experiment_lines(eid, client.read("lm_lens_panel", experiment_id=eid))
    return lines


def experiment_lines(eid: int, panel: dict | None) -> list[str]:
    lines = [f"### Experiment {eid}", ""]
    m = measure(panel) if panel else None
    if not m or not m["samples"]:
        return lines + ["No MoE model with k > 1 and MoE Lens numbers in this experiment.",
                        ""]
    lines += [size_line(m["runs"], panel["n_dense"]), "",
              table(["model (seed)", "domain", "perplexity", "top-1 only", "rise",
                     "best-layer cosine (layer)", "top expert share", "top quarter share",
                     "worst expert removal"],
                    [[f"{s['run_id']} ({s['seed']})", s["domain"], fmt(s["perplexity"], 4),
                      fmt(s["perplexity_top1"], 4), _pct(s["rise"]),
                      f"{fmt(s['cos'])} ({s['best_layer']})", fmt(s["top1"]),
                      fmt(s["quarter"]), _pct(s["worst"])] for s in m["samples"]]), ""]
    for (question, claim), v in zip(CLAIMS, m["verdicts"], strict=True):
        lines += [f"**Question:** {question}", "", f"**Paper:** {claim}", "",
                  f"**Measure:** {v.measure}.", "",
                  f"**Answer:** {v.word}: {v.detail}.", ""]
    return lines


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:+.1f} %"
