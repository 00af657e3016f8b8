"""The notebook half of the Python API (issue 20): `lab.figure(kind, experiment=…)`, the figure
`moelab export figure` writes, and `lab.phase(experiment)`, the phase-diagram grid as a table.
A mixin of moelab.lab.Lab, which supplies `_client()`."""

from __future__ import annotations

from typing import Any

_PHASE_COLUMNS = ("n_features", "d_hidden", "n_experts", "expert", "sparsity",
                  "last_importance", "run_id", "class", "monosemantic", "norm", "superposition",
                  "superposition_all", "dimensionality", "eval_loss")


class FiguresMixin:
    def figure(self, kind: str, experiment: int, **options: Any):
        """The matplotlib Figure of `moelab export figure KIND --experiment ID` (kinds:
        moelab.figures.KINDS); options as the command's flags: expert, metric, run_id,
        against, step, color, stability. Shown inline in Jupyter; `fig.savefig(path)`."""
        from moelab.figures.render import figure
        with self._client() as client:
            return figure(client, kind, int(experiment), **options)

    def phase(self, experiment: int) -> Any:
        """The phase-diagram grid as a pandas DataFrame: one row per setup, expert and cell
        (the chosen run of each sparsity × last-importance point) with the last feature's
        class (ignored / monosemantic / superposition, as the views and `moelab compare`
        count it) and its metrics. Empty for an experiment that is not such a sweep."""
        import pandas as pd

        from moelab.engine.compare import CLASSES, last_class
        with self._client() as client:
            grids = client.read("phase_grids", experiment_id=int(experiment))
        frames = []
        for g in grids:
            cols = g["columns"]
            df = pd.DataFrame(cols)
            for k in ("n_features", "d_hidden", "n_experts"):
                df[k] = int(g["setup"][k])
            codes = last_class(df["norm"].fillna(0.0), df["monosemantic"].astype(bool))
            df["class"] = [CLASSES[c] for c in codes]
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=list(_PHASE_COLUMNS))
        out = pd.concat(frames, ignore_index=True)
        return out[[c for c in _PHASE_COLUMNS if c in out.columns]]
