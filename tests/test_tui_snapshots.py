"""Snapshot tests of the phase diagram and the Gram view: fixed inputs, and the drawn
characters with their colours compared to files in tests/snapshots/ (ANSI text: `cat` one
in a terminal to see it). After an intended change: MOELAB_UPDATE_SNAPSHOTS=1 pytest …"""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console
from test_tui_support import FakeClient, phase_columns, run_app_test, seeded_db, until

from moelab.tui.screens.phase import PhaseScreen
from moelab.tui.screens.run_detail import RunDetailScreen
from moelab.tui.widgets.cell_grid import CellGrid

SNAPSHOTS = Path(__file__).parent / "snapshots"

SPARSITY = [0.1, 0.3, 0.5, 0.7, 0.9, 0.95]
IMPORTANCE = [round(0.2 * i, 1) for i in range(1, 15)]  # 14 rows: half-block cells


def phase_reads() -> dict:
    def cells():
        out, run = [], 0
        for s in SPARSITY:
            for li in IMPORTANCE:
                run += 1
                for e in range(2):
                    # Expert 0 keeps the last feature when it matters, in superposition
                    # when sparse; expert 1 the reverse: a known picture.
                    norm = min(1.0, li / 1.5) if e == 0 else max(0.0, 1 - li / 2)
                    out.append({"run_id": run, "sparsity": s, "last_importance": li,
                                "eval_loss": 0.1 * s, "expert": e, "norm": norm,
                                "superposition": s * norm, "superposition_all": s,
                                "dimensionality": 1 - s, "monosemantic": s < 0.5})
        return out
    experiments = [{"experiment_id": 9, "name": "synthetic", "preset": "fig4",
                    "status": "done", "n_runs": 84}]
    return {
        "phase_experiments": lambda: [9],
        "experiments_panel": lambda: experiments,
        "phase_grids": lambda experiment_id: [{
            "setup": {"n_features": 3, "d_hidden": 2, "n_experts": 2},
            "sparsity": SPARSITY, "last_importance": IMPORTANCE, "n_experts": 2,
            "columns": phase_columns(cells())}],
    }


def gram_detail(**_) -> dict:
    W = [[1.0, 0.0, 0.6, -0.5], [0.0, 1.0, 0.8, 0.5]]  # (d_hidden, n_features)
    n = 4
    gram = [[sum(W[r][i] * W[r][j] for r in range(2)) for j in range(n)] for i in range(n)]
    features = [{"feature": i, "norm": sum(W[r][i] ** 2 for r in range(2)) ** 0.5,
                 "bias": -0.1 * i, "superposition": 0.1 * i, "monosemantic": i < 2}
                for i in range(n)]
    run = {"run_id": 5, "experiment_id": 9, "kind": "dense", "n_features": n, "d_hidden": 2,
           "n_experts": 1, "k": 1, "sparsity": 0.9, "last_importance": 1.0, "seed": 0,
           "chosen": True, "eval_loss": 0.01, "fpd": 2.0, "router_init": "xavier",
           "gating": "renorm", "lb_coef": 0.0}
    return {"run": run, "experts": [{"expert": 0, "usage": 1.0, "route_fraction": 1.0,
                                     "n_monosemantic": 2, "W": W, "gram": gram,
                                     "b": [0.0] * n, "router": [0.0] * n,
                                     "features": features}],
            "metrics": {"loss": [[0, 1.0], [100, 0.5]]}}


def ansi(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system="truecolor",
                      force_terminal=True, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("MOELAB_UPDATE_SNAPSHOTS") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; view both with cat, update if intended"


def test_phase_diagram_snapshot():
    drawn = {}

    async def body(app, pilot):
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, PhaseScreen)
                    and len(app.screen.query(CellGrid)) == 2)
        grids = list(app.screen.query(CellGrid))
        await until(pilot, lambda: grids[0].has_focus)
        await pilot.press("right", "right", "down")
        await pilot.pause(0.1)
        legend = app.screen.query_one("#legend").render()
        drawn["text"] = "".join(ansi(r) for r in [legend, *(g.as_text() for g in grids)])
        drawn["info"] = str(app.screen.query_one("#cell-info").render())
    run_app_test(FakeClient(seeded_db(), reads=phase_reads()), body)
    check_snapshot("tui_phase_diagram.ansi", drawn["text"])
    assert "4.C expert 0 of 2" in drawn["text"] and "4.C expert 1 of 2" in drawn["text"]
    # As the paper's figure: column 2 is the third importance, row 1 from the top the
    # second-highest sparsity.
    assert f"sparsity {SPARSITY[-2]:g}" in drawn["info"]
    assert f"I_last {IMPORTANCE[2]:g}" in drawn["info"]


def test_gram_view_snapshot():
    drawn = {}

    async def body(app, pilot):
        app.open_run(5)
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                    and app.screen.detail is not None)
        await pilot.press("right", "right", "down")
        await pilot.pause(0.1)
        s = app.screen
        drawn["text"] = "".join(ansi(w.as_text() if isinstance(w, CellGrid) else w.render())
                                for w in (s.query_one("#gram"), s.query_one("#gram-info"),
                                          s.query_one("#norms")))
    run_app_test(FakeClient(seeded_db(), reads={"run_detail": gram_detail}), body)
    check_snapshot("tui_gram.ansi", drawn["text"])
    assert "G[1,2] = W_1·W_2 = 0.8000" in drawn["text"]
