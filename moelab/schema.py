"""Names every layer shares, with no dependency (db/, tui/ and the figures import this).

PHASE_FIELDS: the per-cell values a phase diagram can be coloured by, one list for the
reads (db/reads/phase.py), the TUI's colourings (tui/phase_model.py, tui/phase_layers.py) and
the exported figures (moelab/figures/phase_layers.py). A new one is a stored column plus a
line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseField:
    name: str  # what --color and the TUI's `v` call it
    label: str  # how views, legends and figures name it
    column: str  # its column in the phase cells
    table: str  # where the column is stored: "features" (the last feature's) or "runs"
    per_step: bool = True  # also at training snapshots (the dynamics metrics)


PHASE_FIELDS: tuple[PhaseField, ...] = (
    PhaseField("norm", "norm of the last feature", "norm", "features"),
    PhaseField("superposition", "superposition of the last feature (j ≠ i)", "superposition",
               "features"),
    PhaseField("superposition_all", "superposition of the last feature (all j)",
               "superposition_all", "features"),
    PhaseField("dimensionality", "dimensionality of the last feature", "dimensionality",
               "features"),
    PhaseField("loss", "evaluation loss", "eval_loss", "runs"),
)
