"""The paper's Table 1 as CSV or LaTeX: per router init and number of monosemantic features
per expert, how many experts, and their usage overall / when those features are active /
when only those features are active, under two definitions side by side:
- training data (moelab's): on samples of the run's own training distribution; "active" =
  any of the expert's monosemantic features nonzero, "only" = the others zeroed;
- dense inputs (the authors'): every feature ~ U[0, 1]; "active" = the expert's
  monosemantic features clamped to 1.0, "only" = those features alone at one common value.
"""

from __future__ import annotations

import csv
import io

from .data import Source, as_rows, require

TRAIN, DENSE = "training data", "dense inputs, the authors' definition"
HEADER = ("router init", "monosemantic features per expert", "experts", "of experts",
          f"mean usage (%) [{TRAIN}]", f"usage, feature(s) active (%) [{TRAIN}]",
          f"usage, only feature(s) active (%) [{TRAIN}]",
          f"mean usage (%) [{DENSE}]", f"usage, feature(s) clamped to 1 (%) [{DENSE}]",
          f"usage, only feature(s) active (%) [{DENSE}]")
USAGES = ("usage", "usage_when_mono_active", "usage_when_only_mono_active",
          "usage_dense", "usage_dense_mono_active", "usage_dense_only_mono")


def table(source: Source) -> list[list]:
    """Rows of HEADER; a usage is None where no expert has that many monosemantic features
    (or, for runs stored before the dense-input columns, where it was not measured)."""
    rows = as_rows(source.client.read("usage_table_both", experiment_id=source.experiment_id))
    require(bool(rows), f"experiment {source.experiment_id} has no MoE runs (n_experts > 1) "
            "to make a usage table of (e.g. `moelab run table1 --quick`)")
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["router_init"]] = totals.get(r["router_init"], 0) + r["n_experts_with"]
    out = []
    for r in rows:
        mono = r["n_monosemantic"] > 0  # usage given no monosemantic feature is undefined

        def pct(v, defined=True):
            return None if v is None or not defined else round(100 * v, 2)
        out.append([r["router_init"], r["n_monosemantic"], r["n_experts_with"],
                    totals[r["router_init"]]]
                   + [pct(r[c], mono or c in ("usage", "usage_dense")) for c in USAGES])
    return out


def to_csv(rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()


def _cell(v) -> str:
    return "--" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def to_latex(rows: list[list], caption: str) -> str:
    """A plain `tabular` (no packages needed), one block per router init like the paper's,
    the training-data usages first, then the authors' dense-input ones."""
    lines = ["% written by `moelab export figure usage-table`", "\\begin{table}[t]",
             "\\centering", f"\\caption{{{_tex(caption)}}}", "\\begin{tabular}{rrrrrrrr}",
             "\\hline",
             "& & \\multicolumn{3}{c}{training data} & \\multicolumn{3}{c}{dense inputs "
             "(authors')} \\\\"]
    for init in dict.fromkeys(r[0] for r in rows):
        block = [r for r in rows if r[0] == init]
        total = block[0][3]
        lines += [f"\\multicolumn{{8}}{{l}}{{\\textbf{{{_tex(init)} router initialisation}}}}"
                  " \\\\",
                  f"mono.\\ features & experts (of {total}) & mean usage (\\%) & "
                  "active (\\%) & only active (\\%) & mean usage (\\%) & clamped to 1 (\\%) "
                  "& only active (\\%) \\\\", "\\hline"]
        lines += [" & ".join(_cell(v) for v in (r[1], r[2], *r[4:10])) + " \\\\"
                  for r in block]
        lines.append("\\hline")
    lines += ["\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


# REPORT.md's short labels of the usage columns; the TUI's Experts view shows the same.
MARKDOWN_HEADER = ("router init", "mono. features", "experts", "mean usage % (train)",
                   "active % (train)", "only active % (train)",
                   "mean usage % (dense, authors')", "clamped to 1 % (dense, authors')",
                   "only active % (dense, authors')")


def to_markdown(rows: list[list]) -> str:
    head = MARKDOWN_HEADER
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in (r[0], r[1], f"{r[2]} / {r[3]}", *r[4:10]))
              + " |" for r in rows]
    return "\n".join(lines)


def _tex(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"),
                 ("#", "\\#")):
        text = text.replace(a, b)
    return text
