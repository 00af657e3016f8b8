"""REPORT.md sections about sweeps: tms-classic, fig3, fig4 (with seed stability and the
agreement with imported author data), fig5. Each returns (claim, what our runs show,
Verdict)."""

from __future__ import annotations

import numpy as np

from . import phase, routing, sparsity
from . import verdicts as V
from .data import FigureError, Source, as_rows, group, mean_ci
from .report_format import fmt, table

TAU_NORM = 0.5


def _at(c: dict, s: float, key: str = "mean"):
    return c[key][c["sparsity"].index(s)] if s in c["sparsity"] else None


def _pm(c: dict, s: float) -> str:
    m, h = _at(c, s), _at(c, s, "half")
    return "–" if m is None else (f"{m:.3g} ± {h:.2g}" if h else f"{m:.3g}")


def fig3(src: Source):
    fpd = sparsity.curves(src, "fpd")
    loss = sparsity.curves(src, "eval_loss")
    dense = next((c for c in fpd if c["dense"]), None)
    moes = sorted((c for c in fpd if not c["dense"]), key=lambda c: c["key"][3])
    if dense is None or not moes:
        raise FigureError("this experiment lacks a dense model or an MoE to compare")
    S = dense["sparsity"]
    seeds = sorted({n for c in fpd for n in c["n"]})
    note = f"n = {'–'.join(map(str, seeds))} seed(s) per point" + (
        ", mean ± 95 % interval" if max(seeds) > 1 else "")
    shown = table(["S"] + [c["label"] for c in [dense, *moes]],
                  [[f"{s:g}"] + [_pm(c, s) for c in [dense, *moes]] for s in S])
    above = [_at(dense, s) > _at(m, s) for m in moes for s in S if _at(m, s) is not None]
    order = [all(_at(a, s) >= _at(b, s) for a, b in zip(moes, moes[1:], strict=False))
             for s in S if all(_at(m, s) is not None for m in moes)]
    capped = [max(m["mean"]) <= 1.05 for m in moes]
    out = [("The dense model has more features per dimension (more superposition) than each "
            "MoE with equal total parameters, at every sparsity (Figure 3).",
            f"Features per dimension ({note}):\n\n{shown}",
            V.share_at_least(above, "(MoE, sparsity) pairs where the dense mean fpd exceeds "
                                    "the MoE's", agree=0.999)),
           ("More experts → fewer features per dimension (less superposition).",
            "Order " + " > ".join(m["label"] for m in moes) + " checked at each sparsity.",
            V.share_at_least(order, "sparsities where mean fpd falls as experts are added",
                             agree=0.999)),
           ("The MoE tends to cap its representation at the monosemantic limit (fpd ≤ 1).",
            "Largest mean fpd over sparsities: " + "; ".join(
                f"{m['label']} {max(m['mean']):.3g}" for m in moes) + ".",
            V.share_at_least(capped, "MoEs whose mean fpd stays ≤ 1.05 at every sparsity",
                             agree=0.999))]
    ld = next(c for c in loss if c["dense"])
    lm = sorted((c for c in loss if not c["dense"]), key=lambda c: c["key"][3])
    lower = [_at(ld, s) < _at(m, s) for m in lm for s in S if _at(m, s) is not None]
    gaps = [np.mean([(_at(m, s) - _at(ld, s)) / _at(ld, s) for s in S if _at(m, s)])
            for m in lm]
    shrinks = all(a >= b for a, b in zip(gaps, gaps[1:], strict=False))
    out.append(("The dense model reaches lower loss than the MoEs at every sparsity, and MoEs "
                "with more experts come close to it (Figure 6).",
                f"Evaluation loss ({note}):\n\n" + table(
                    ["S"] + [c["label"] for c in [ld, *lm]],
                    [[f"{s:g}"] + [_pm(c, s) for c in [ld, *lm]] for s in S])
                + "\n\nMean relative loss gap to dense: " + "; ".join(
                    f"{m['label']} {g:+.0%}" for m, g in zip(lm, gaps, strict=True)) + " ("
                + ("shrinks" if shrinks else "does not shrink steadily") + " with more experts).",
                V.share_at_least(lower, "(MoE, sparsity) pairs where the dense mean loss is "
                                        "lower", agree=0.999)))
    return out


def fig4(src: Source):
    panels = phase.phase_panels(src, "superposition_all")
    rows, norms, xs = [], {}, {}
    for p in panels:
        ok = ~np.isnan(p["norm"])
        rep = (p["norm"] >= TAU_NORM) & ok
        mono = p["monosemantic"] & ok
        mid = (p["norm"] >= 0.2) & (p["norm"] < 0.8) & ok
        n = int(ok.sum())
        setup = phase.setup_letter(p["n_features"], p["d_hidden"])
        side = "dense" if p["n_experts"] == 1 else "moe"
        norms.setdefault((side, setup), []).extend(p["norm"][ok].tolist())
        xs.setdefault((side, setup), []).extend(p["x"][rep].tolist())
        rows.append([p["label"], n, f"{rep.sum() / n:.0%}", f"{mono.sum() / n:.0%}",
                     f"{(rep & ~mono).sum() / n:.0%}", f"{mid.sum() / n:.0%}",
                     fmt(float(np.mean(p["x"][rep])) if rep.any() else None, 2)])
    shown = table(["panel", "cells", "last feature represented (norm ≥ 0.5)", "monosemantic",
                   "in superposition", "intermediate norm (0.2 ≤ ‖W‖ < 0.8)",
                   "mean colour x where represented"], rows)
    split = lambda d, side: {s: v for (sd, s), v in d.items() if sd == side}  # noqa: E731
    out = [("Dense models show a clear (discrete) phase change; in MoEs the transitions are "
            "continuous (Figure 4).",
            "Per panel (chosen run per cell, last feature; absolute norms):\n\n" + shown,
            V.continuous(split(norms, "dense"), split(norms, "moe"))),
           ("MoE experts have lower superposition of the last feature than the dense "
            "models (bluer).", "Mean colour coordinate over represented cells, per panel, is "
            "in the table above.", V.bluer(split(xs, "dense"), split(xs, "moe")))]
    held = {}
    for p in panels:
        key = (p["n_features"], p["d_hidden"], p["n_experts"])
        rep = (p["norm"] >= TAU_NORM)
        held[key] = rep if key not in held else held[key] | rep
    a_dense, a_moe = held.get((2, 1, 1)), held.get((2, 1, 2))
    if a_dense is not None and a_moe is not None:
        out.append(("4.A: the dense model drops the last feature at low sparsity; the MoE "
                    "with E = 2 keeps it.", "Per cell: does some expert represent the last "
                    "feature (norm ≥ 0.5)?",
                    V.more_than(a_dense.ravel().astype(float).tolist(),
                                {"MoE E=2": a_moe.ravel().astype(float).tolist()},
                                "share of cells where some expert represents the last "
                                "feature (1 per such cell, 0 otherwise)", per="cell")))
    return out + _stability(src) + _authors(src)


def _stability(src: Source) -> list:
    rows = as_rows(src.client.read("seed_stability", experiment_id=src.experiment_id))
    if not rows:
        return []
    lines, shares = [], {}
    for (n, m, E), rs in sorted(group(rows, lambda r: (r["n_features"], r["d_hidden"],
                                                       r["n_experts"])).items()):
        mean, half, k = mean_ci(r["stability"] for r in rs)
        unstable = sum(r["stability"] <= 0.5 for r in rs)  # at most half its seeds agree
        label = f"{phase.setup_letter(n, m)} E={E}"
        shares[label] = unstable / k
        lines.append([label, k, rs[0]["n_seeds"], f"{mean:.0%} ± {half:.0%}",
                      f"{unstable / k:.0%}"])
    return [("Beyond the paper (the reviewers objected to single-seed toy results): a "
             "phase-diagram cell's class of the last feature (ignored / monosemantic / "
             "superposition) does not hang on the seed.",
             table(["setup", "cells", "seeds per cell", "mean stability ± 95 %",
                    "unstable cells (≤ 50 %)"], lines),
             V.stable_cells(shares))]


def _authors(src: Source) -> list:
    """Agreement with every imported experiment (e.g. the authors' npz) sharing cells."""
    from .phase_diff import comparison, report_lines
    out = []
    for exp in src.client.read("experiments"):
        if exp.get("preset") != "import" or exp.get("status") != "done":
            continue
        try:
            result, _, _ = comparison(src.client, src.experiment_id, exp["experiment_id"])
        except FigureError:
            continue
        total = sum(c.matching for c in result) / sum(c.cells for c in result)
        out.append((f"Agreement with imported experiment {exp['experiment_id']} "
                    f"({exp.get('name')}), cell by cell.",
                    "```\n" + "\n".join(report_lines(result)) + "\n```",
                    V.Verdict(V.AGREES if total >= 0.8 else (V.PARTLY if total >= 0.5
                                                             else V.DIFFERS),
                              f"{total:.1%} of {sum(c.cells for c in result)} common cells "
                              "match", "share of common cells whose last-feature classes "
                              "match with experts matched; agrees at ≥ 80 %, partly at ≥ 50 % "
                              "(seeds of one setup agree with each other about as often: see "
                              "seed stability)")))
    return out


def fig5(src: Source):
    runs = routing.routed_runs(src)
    rows = [[r["router_init"], r["run_id"], sum(s >= 0.01 for s in r["share"]),
             ", ".join(f"{s:.0%}" for s in r["share"]), fmt(r["eval_loss"])] for r in runs]
    by_loss = sorted(runs, key=lambda r: r["eval_loss"])
    used = [sum(s >= 0.01 for s in r["share"]) for r in by_loss]
    pairs = [a >= b for a, b in zip(used, used[1:], strict=False)]
    return [("Models that spread the input space over more experts reach lower loss "
             "(Appendix A.4).",
             table(["router init", "run", "experts used (≥ 1% of [0,1]²)",
                    "share of the quadrant per expert", "eval loss"], rows),
             V.share_at_least(pairs, "consecutive runs, in order of eval loss, where the "
                                     "lower-loss run uses at least as many experts",
                              agree=0.999))]


def tms_classic(src: Source):
    c = sparsity.curves(src, "fpd")[0]
    first, last = c["mean"][0], c["mean"][-1]
    m, n = c["key"][2], c["key"][1]
    steps = [b - a > -0.05 for a, b in zip(c["mean"], c["mean"][1:], strict=False)]
    v = V.share_at_least(steps, "consecutive sparsities where mean fpd rises or holds "
                                "(a fall of < 0.05 counts as holding)", agree=0.999)
    start = f"starts at {first:.2f}" + (" ≈ 1" if abs(first - 1) < 0.15 else ", not ≈ 1")
    return [("Elhage et al.: a dense model goes from ~m features (fpd ≈ 1) at density 1 to "
             f"superposition (fpd → n/m = {n / m:g}) as features get sparse.",
             "Features per dimension by sparsity S: " + ", ".join(
                 f"S = {s:.4g}: {val:.3g}" for s, val in zip(c["sparsity"], c["mean"],
                                                             strict=True))
             + f" (last / first = {last / first:.2f}).",
             V.Verdict(v.word if abs(first - 1) < 0.15 else V.PARTLY,
                       f"{v.detail}; {start}", v.measure))]
