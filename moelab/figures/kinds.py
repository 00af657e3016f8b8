"""The figure kinds and what `reproduce` makes per preset: plain data, cheap to import
(the command line reads it to build --help without loading matplotlib)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str
    draw: str | None = None  # "module:function" in moelab.figures, -> matplotlib Figure
    suffixes: tuple[str, ...] = (".png", ".svg", ".pdf")


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("phase-diagram", "per-expert phase diagrams (4.X expert e of E, from 0) of a "
         "sparsity × last-importance sweep (fig4); --metric superposition_all (default) | "
         "superposition; --step N (at a snapshot), --color metric:NAME (or norm, loss, …), "
         "--stability (mark unstable points)", "phase:draw"),
    Kind("gram", "Gram matrix W_eᵀW_e per expert of one run per setup (fig1-2)",
         "weights:draw_gram"),
    Kind("feature-norms", "feature-norm bars per expert, purple monosemantic / green "
         "superposition (fig1-2, fig6-init)", "weights:draw_feature_norms"),
    Kind("fpd-vs-sparsity", "features per dimension against 1/(1−S), dense vs each MoE (fig3, "
         "tms-classic); --metric fpd | capacity", "sparsity:draw_fpd"),
    Kind("loss-vs-sparsity", "loss against 1/(1−S), dense vs each MoE (fig3); --metric "
         "eval_loss | final_loss", "sparsity:draw_loss"),
    Kind("routing-regions", "which expert each point of the n = 2 input quadrant routes to "
         "(fig5)", "routing:draw"),
    Kind("training-curves", "a logged metric against step per setup; --metric loss | rec_loss "
         "| lb_loss | router_grad_norm", "curves:draw"),
    Kind("phase-diff", "where two phase-diagram experiments differ, cell by cell with experts "
         "matched (e.g. ours against an imported npz); --against ID", "phase_diff:draw"),
    Kind("dynamics", "feature norms and superposition against training step per expert, "
         "specialisation steps marked (runs trained with train.snapshots); --run ID",
         "dynamics:draw"),
    Kind("lens", "MoE Lens: routing concentration, top-1 cosine and loss, expert ablation, "
         "per MoE setup (against 1/(1−S) when sparsity is swept)", "lens:draw"),
    Kind("lm-lens", "MoE Lens on a language model (an lm experiment): per domain and layer "
         "the top-1 hidden cosine, the top-1 logit-lens perplexity ÷ full, routing "
         "concentration", "lm_lens:draw"),
    Kind("usage-table", "Table 1: usage of experts by number of monosemantic features, per "
         "router init (table1); writes .csv or .tex", None, (".csv", ".tex")),
    Kind("crosscoder-relative-norms", "histogram of the latents' relative decoder norms, "
         "dense-only to MoE-only (a `moelab crosscode` experiment)",
         "crosscoder:draw_relative_norms"),
    Kind("crosscoder-densities", "activation density of crosscoder latents by class (shared, "
         "dense-only, MoE-only, designated)", "crosscoder:draw_densities"),
    Kind("crosscoder-recovery", "best decoder cosine of each true input feature, by where "
         "the models represent it, coloured by the class of the latent that found it",
         "crosscoder:draw_recovery"),
]}

# preset -> the files `moelab reproduce` makes from it: (kind, suffix or "img", --metric)
REPRODUCE: dict[str, list[tuple[str, str, str | None]]] = {
    "tms-classic": [("fpd-vs-sparsity", "img", None)],
    "fig1-2": [("feature-norms", "img", None), ("gram", "img", None)],
    "fig3": [("fpd-vs-sparsity", "img", None), ("loss-vs-sparsity", "img", None)],
    "fig4": [("phase-diagram", "img", None)],
    "fig5": [("routing-regions", "img", None), ("training-curves", "img", "router_grad_norm")],
    "fig6-init": [("feature-norms", "img", None), ("gram", "img", None)],
    "table1": [("usage-table", ".csv", None), ("usage-table", ".tex", None)],
}
