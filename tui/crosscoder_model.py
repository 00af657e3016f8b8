"""What the crosscoder panel shows, as pure functions of the `crosscoder_panel` read.

- the relative decoder norm histogram r = ‖d_dense‖ / (‖d_dense‖ + ‖d_MoE‖) of the live
  latents, stacked by class (the crosscoder papers' figure: MoE-only at 0, dense-only at 1);
- per latent class: how many, and how densely they fire on the evaluation batch;
- per truth class of the input features (represented in both models, only the dense one,
  only the MoE, neither): the mean best decoder cosine in each model and the class of the
  latents that found them (MCC-style recovery, docs/crosscoders.md).
A dead latent is one that fires on none of the evaluation inputs (density 0): the stored
`dead_latents` and class 'dead'. (Training logs a different count, `idle_latents`: latents
not fired in the last crosscoder.dead_steps steps, the ones the auxiliary loss trains.)
"""

from __future__ import annotations

import statistics

BINS = 20
# class -> (label, plotext RGB, hex for the exported figure); stacked bottom to top.
CLASSES = {
    "moe-only": ("MoE-only", (230, 159, 0), "#e69f00"),
    "shared": ("shared", (0, 114, 178), "#0072b2"),
    "designated": ("designated (tied)", (153, 153, 153), "#999999"),
    "dense-only": ("dense-only", (0, 158, 115), "#009e73"),
}
TRUTH = (("shared", "in both"), ("dense-only", "dense only"), ("moe-only", "MoE only"),
         ("neither", "neither"))
CLASS_COLUMNS = ("latents", "count", "mean density", "median density", "max density")
RECOVERY_COLUMNS = ("truly", "features", "dense: best cos", "found by", "MoE: best cos",
                    "found by")
SHORT = {"shared": "sh", "dense-only": "d", "moe-only": "m", "dead": "dead"}
EMPTY = ("No crosscoders are stored yet. Train some: [b]moelab crosscode DENSE_RUN MOE_RUN[/b] "
         "(a dense and an MoE run trained on the same data), or the preset: "
         "[b]moelab crosscode --preset fig1-2 --quick[/b] (or `moelab run crosscoder-fig1-2 "
         "--quick`), which trains the models first. docs/crosscoders.md says more.")


def latent_group(latent: dict) -> str:
    """The histogram's class: designated shared latents apart from learned shared ones."""
    return "designated" if latent.get("designated") and latent["class"] == "shared" \
        else latent["class"]


def option_label(c: dict) -> str:
    return (f"#{c['run_id']} · exp {c['experiment_id']} {c['experiment']} · dense "
            f"{c['dense_run_id']} (m={c['dense_d_hidden']}) vs MoE {c['moe_run_id']} "
            f"(E={c['moe_n_experts']} k={c['moe_k']} m={c['moe_d_hidden']}) · "
            f"{c['n_latents']} latents k={c['k']} · seed {c['seed']}")


def pick(crosscoders: list[dict], *wanted: int | None) -> int | None:
    """The first wanted run that is a stored crosscoder, else the newest one."""
    ids = [c["run_id"] for c in crosscoders]
    return next((w for w in wanted if w in ids), ids[0] if ids else None)


def histogram(latents: list[dict], bins: int = BINS) -> tuple[list[float], dict[str, list]]:
    """Bin centres over [0, 1] and, per class of CLASSES, the live latents in each bin."""
    counts = {c: [0] * bins for c in CLASSES}
    for lat in latents:
        group, r = latent_group(lat), lat.get("relative_norm")
        if group in counts and r is not None:
            counts[group][min(int(r * bins), bins - 1)] += 1
    return [(i + 0.5) / bins for i in range(bins)], counts


def legend(counts: dict[str, list]) -> str:
    """The histogram's key as markup, one coloured block per class drawn (stacked bottom to
    top) with its number of live latents."""
    parts = [f"[rgb({','.join(map(str, CLASSES[c][1]))})]██[/] {CLASSES[c][0]} {sum(n)}"
             for c, n in counts.items() if c in CLASSES and any(n)]
    return "   ".join(parts) or "[dim]no live latents[/]"


def class_rows(latents: list[dict]) -> list[list[str]]:
    """One row per latent class (designated shared latents on a line of their own)."""
    rows = []
    for group, label in [("shared", "shared (all)"), ("designated", "  of them designated"),
                         ("dense-only", "dense-only"), ("moe-only", "MoE-only"),
                         ("dead", "dead (never fire)")]:
        mine = [lat["density"] or 0.0 for lat in latents
                if (lat["class"] == group if group != "designated"
                    else latent_group(lat) == "designated")]
        if group == "designated" and not mine:
            continue
        rows.append([label, str(len(mine)), _f(statistics.fmean(mine) if mine else None),
                     _f(statistics.median(mine) if mine else None), _f(max(mine, default=None))])
    return rows


def recovery_rows(features: list[dict]) -> list[list[str]]:
    """Per truth class: how many features, and in each model where the feature is (both
    models for 'in both'), the mean best decoder cosine and the classes that found it."""
    rows = []
    for truth, label in TRUTH:
        mine = [f for f in features if f["truth"] == truth]
        if not mine:
            continue
        row = [label, str(len(mine))]
        for model in ("dense", "moe"):
            counts = truth in ("shared", f"{model}-only")
            found = [f for f in mine if f[f"{model}_cosine"] is not None] if counts else []
            row.append(_f(statistics.fmean(f[f"{model}_cosine"] for f in found))
                       if found else "–")
            row.append(_found_by(found, model))
        rows.append(row)
    return rows


def _found_by(found: list[dict], model: str) -> str:
    """The classes of the latents that best match the features, e.g. "sh 3 · d 1"."""
    tally: dict[str, int] = {}
    for f in found:
        cls = f[f"{model}_latent_class"] or "dead"
        tally[cls] = tally.get(cls, 0) + 1
    return " · ".join(f"{SHORT.get(c, c)} {n}" for c, n in sorted(tally.items())) or "–"


RECOVERY_NOTE = ("[dim]best cos: mean over the features of the best live decoder's cosine "
                 "with the feature's direction in that model; found by: class of that latent "
                 "(sh shared, d dense-only, m MoE-only)[/]")
NO_TRUTH = "no ground truth for language models: recovery is measured on toy models only"


def has_truth(panel: dict) -> bool:
    """Toy crosscoders store a recovery row per input feature; language models have none."""
    return bool(panel.get("features"))


def summary_line(s: dict) -> str:
    """FVE per space, recovery (MCC-style), dead latents and the class counts."""
    return (f"[b]crosscoder run {s['run_id']}[/b] · experiment {s['experiment_id']} · dense run "
            f"{s['dense_run_id']} (width {s['d_dense']}) vs MoE run {s['moe_run_id']} (width "
            f"{s['d_moe']}) · {s['n_latents']} latents, k={s['k']}, {s['n_designated']} "
            f"designated shared\nvariance explained: dense {_f(s['fve_dense'])} · MoE "
            f"{_f(s['fve_moe'])}   " + (
                "recovery: no ground truth for language models" if s["mcc_dense"] is None
                and s["mcc_moe"] is None else "recovery (mean best cosine of the represented "
                f"features): dense {_f(s['mcc_dense'])} · MoE {_f(s['mcc_moe'])}") +
            "\nlatents: "
            f"{s['n_shared'] or 0} shared · {s['n_dense_only'] or 0} dense-only · "
            f"{s['n_moe_only'] or 0} MoE-only · [b]{s['dead_latents']} dead[/b] [dim](dead: "
            "fires on none of the evaluation inputs; classes by r with threshold "
            f"{s['class_threshold']})[/]")


def _f(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"
