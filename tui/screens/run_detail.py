"""Run detail: per expert the Gram heatmap (cells as large as the space allows, with its
numeric scale), feature norms and biases, the loss curve and router statistics; [ and ]
switch experts, which are numbered from 0 as in the views and the CLI."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from ..colours import GREEN, PURPLE, diverging
from ..fetch import Fetched, fetch
from ..format import num
from ..scales import diverging_text
from ..widgets.cell_grid import CellGrid, fit_level
from ..widgets.key_bar import KeyBar
from ..widgets.plot import Plot
from .base import LabScreen

BAR_WIDTH = 12


def gram_colours(gram: list[list[float]]) -> tuple[list[list[str]], float]:
    vmax = max((abs(v) for row in gram for v in row if v is not None), default=0.0)
    return [[diverging(v or 0.0, vmax) for v in row] for row in gram], vmax


def norm_bars(features: list[dict]) -> Text:
    """One line per feature: a bar of its norm, purple if monosemantic, green if not."""
    text = Text()
    top = max((f["norm"] or 0.0 for f in features), default=1.0) or 1.0
    for f in features:
        n = f["norm"] or 0.0
        full = round(n / top * BAR_WIDTH)
        colour = PURPLE if f.get("monosemantic") else GREEN
        text.append(f"{f['feature']:>3} ")
        text.append("█" * full, style=colour)
        text.append(" " * (BAR_WIDTH - full))
        text.append(f" {n:5.3f} b {num(f['bias'], 2):>6} sp {num(f['superposition'], 2)}\n")
    return text


def router_text(run: dict, experts: list[dict], metrics: dict) -> str:
    lines = [f"[b]router[/b] ({run.get('router_init')}, gating {run.get('gating')}, "
             f"lb α {num(run.get('lb_coef'))})",
             f"[dim]{'e':<2} {'usage':>6} {'routed':>6} {'mono':>4} {'u|mono':>6} "
             f"{'u|only':>6}[/]"]  # the columns below; u|mono: usage when its mono. are on
    for e in experts:
        lines.append(f"{e['expert']:<2} {num(e.get('usage'), 2):>6} "
                     f"{num(e.get('route_fraction'), 2):>6} {e.get('n_monosemantic')!s:>4} "
                     f"{num(e.get('usage_when_mono_active'), 2):>6} "
                     f"{num(e.get('usage_when_only_mono_active'), 2):>6}")
    g = metrics.get("router_grad_norm") or []
    if g:
        last = g[-1][1]
        lines.append(f"routing gradient norm: last {num(last, 3)}, max "
                     f"{num(max((v or 0.0) for _, v in g), 3)}"
                     + ("\n[yellow]zero: the router learns nothing from reconstruction[/]"
                        if not any((v or 0.0) > 1e-12 for _, v in g) else ""))
    return "\n".join(lines)


class RunDetailScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  [ ]  previous / next expert · arrows move over the Gram matrix · Esc or q back
  , .  earlier / later snapshot step (runs trained with train.snapshots)"""
    VIEW = "detail"
    BINDINGS = [
        Binding("right_square_bracket", "expert(1)", "next expert"),
        Binding("left_square_bracket", "expert(-1)", "prev expert"),
        Binding("comma", "snapshot(-1)", "earlier step"),  # < >: arrows move the Gram cursor
        Binding("full_stop", "snapshot(1)", "later step"),
        Binding("space", "mark", "mark run"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    def __init__(self, run_id: int):
        super().__init__()
        self.run_id = run_id
        self.detail: dict | None = None
        self.expert = 0
        self.gram_vmax = 0.0
        self.snap_steps: list[int] = []  # the run's snapshot steps, once scrubbed
        self.snap_step: int | None = None  # the step shown; None: the final weights
        self.final_experts: list[dict] | None = None

    def compose(self) -> ComposeResult:
        # Its reads start here, while the widgets mount (Textual handles their answer after
        # on_mount: a screen's compose and mount come before its queued messages).
        self.hold_paint()  # drawn once, with its data
        self.show_run(self.run_id)
        yield from self.top_bars()
        yield Static("loading…", id="run-title")
        with VerticalScroll(id="detail-body"):
            with Horizontal(id="detail-top"):
                with Vertical(id="gram-box"):
                    yield CellGrid("Gram WᵀW", id="gram")
                    yield Static("", id="gram-scale")
                    yield Static("", id="gram-info")
                yield Static("", id="norms")
            with Horizontal(id="detail-bottom"):
                yield Plot(id="loss-plot")
                with Vertical(id="router-box"):
                    yield Static("", id="router")
                    yield Plot(id="grad-plot")
        yield KeyBar()

    def show_run(self, run_id: int) -> None:
        self.run_id = run_id
        fetch(self, "detail", lambda: self.lab.read("run_detail", run_id=run_id))

    def on_fetched(self, message: Fetched) -> None:
        if message.key == "snapshot":
            self.show_snapshot(message)
            return
        self.release_paint()  # the next frame draws what this handler shows
        if message.error or message.value is None:
            self.query_one("#run-title", Static).update(
                f"[red]{message.error or f'no run {self.run_id}'}[/]")
            return
        self.detail = message.value
        self.expert = min(self.expert, len(self.detail["experts"]) - 1)
        self.draw_curves()
        self.draw_expert()
        self.query_one("#gram", CellGrid).focus()

    def draw_expert(self) -> None:
        d = self.detail
        run, experts = d["run"], d["experts"]
        e = experts[self.expert]
        self.query_one("#run-title", Static).update(
            f"[b]run {run['run_id']}[/b] · experiment {run['experiment_id']} · {run['kind']} "
            f"n={run['n_features']} m={run['d_hidden']} E={run['n_experts']} k={run['k']} · "
            f"S={num(run['sparsity'])} I_last={num(run['last_importance'])} · seed "
            f"{run['seed']}{' (chosen)' if run['chosen'] else ''} · eval loss "
            f"{num(run['eval_loss'])} · fpd {num(run['fpd'], 3)}\n"
            f"[b]expert {self.expert} of {len(experts)}[/b]{self.step_note()} [dim](numbered "
            "from 0; \\[ and ] switch experts; , and . training steps; arrows move over the "
            "Gram matrix; space marks the run)[/]")
        colours, vmax = gram_colours(e["gram"])
        n = len(colours)
        ticks = [str(i) if i % 5 == 0 or i == n - 1 else "" for i in range(n)]
        grid = self.query_one("#gram", CellGrid)
        grid.level = self.fit(n)
        grid.set_data(colours, ticks, ticks, "feature j", "i")
        self.gram_vmax = vmax
        self.query_one("#gram-scale", Static).update(
            diverging_text(diverging, vmax or 1.0, "W_i·W_j", width=16))
        self.query_one("#norms", Static).update(
            Text.assemble(("feature norms ‖W_i‖ ", "bold"), ("monosemantic", PURPLE), " / ",
                          ("superposition", GREEN), ", biases\n", norm_bars(e["features"])))
        self.query_one("#router", Static).update(router_text(run, experts, d["metrics"]))
        self._gram_info(*self.query_one("#gram", CellGrid).cursor)

    def draw_curves(self) -> None:
        metrics = self.detail["metrics"]
        for plot_id, names, title in (("#loss-plot", ("loss", "rec_loss"), "training loss"),
                                      ("#grad-plot", ("router_grad_norm",),
                                       "routing gradient norm")):
            plot = self.query_one(plot_id, Plot)
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(title)
            for name in names:
                pts = [(s, v) for s, v in metrics.get(name, []) if v is not None]
                if pts:
                    plt.plot([s for s, _ in pts], [v for _, v in pts], label=name)
            plot.replot()

    def fit(self, n: int) -> int:
        """Gram cells as large as half the width and the height below the title allow."""
        width = max(self.size.width // 2 - 4, 20)
        height = max(self.size.height - 8, 8)
        return fit_level(n, n, width, height, label_width=5)

    def on_resize(self) -> None:
        if self.detail:
            self.query_one("#gram", CellGrid).level = self.fit(
                len(self.detail["experts"][self.expert]["gram"]))

    def action_mark(self) -> None:
        self.app.toggle_mark(self.run_id)

    def _gram_info(self, col: int, row: int) -> None:
        gram = self.detail["experts"][self.expert]["gram"] if self.detail else None
        if gram and row < len(gram) and col < len(gram[row]):
            self.query_one("#gram-info", Static).update(
                f"G[{row},{col}] = W_{row}·W_{col} = {gram[row][col]:.4f}")

    def on_cell_grid_moved(self, message: CellGrid.Moved) -> None:
        self._gram_info(message.col, message.row)

    def action_expert(self, delta: int) -> None:
        if self.detail:
            self.expert = (self.expert + delta) % len(self.detail["experts"])
            self.draw_expert()

    # -- the step scrubber: the run at its snapshot steps (train.snapshots) -----------------
    def action_snapshot(self, delta: int) -> None:
        if self.detail is not None:
            fetch(self, "snapshot", lambda: self.snapshot_at(delta))

    def snapshot_at(self, delta: int) -> dict | None:
        """(worker thread) The run at the snapshot step delta away from the one shown."""
        steps = self.snap_steps or self.lab.read("snapshot_steps", run_id=self.run_id)
        if not steps:
            return {"steps": []}
        at = len(steps) - 1 if self.snap_step is None else steps.index(self.snap_step)
        step = steps[max(0, min(len(steps) - 1, at + delta))]
        return self.lab.read("run_detail_at_step", run_id=self.run_id, step=step)

    def show_snapshot(self, message: Fetched) -> None:
        value = message.value
        if message.error or not value or not value.get("steps"):
            self.notify(message.error or "this run has no snapshots: train with "
                        "train.snapshots = N to scrub through training", severity="warning")
            return
        if self.final_experts is None:
            self.final_experts = self.detail["experts"]
        self.snap_steps = value["steps"]
        last = value["step"] == value["steps"][-1]
        self.snap_step = None if last else value["step"]
        self.detail["experts"] = self.final_experts if last else value["experts"]
        self.draw_expert()

    def step_note(self) -> str:
        if self.snap_step is None:
            return " · final weights" if self.snap_steps else ""
        return f" · [b]step {self.snap_step}[/b] of {self.snap_steps[-1]}"

    def figure_name(self) -> str:
        return f"run-{self.run_id}-expert-{self.expert}"

    def figure_spec(self):
        if self.detail is None:
            return None
        from ..scales import samples
        grid = self.query_one("#gram", CellGrid)
        e = self.detail["experts"][self.expert]
        features = e["features"]
        vmax = self.gram_vmax or 1.0
        return {
            "title": f"run {self.run_id}, expert {self.expert} of "
                     f"{len(self.detail['experts'])} (experts numbered from 0)",
            "panels": [
                {"type": "grid", "title": "Gram WᵀW", "colours": grid.colours,
                 "x_ticks": [[i, t] for i, t in enumerate(grid.x_ticks) if t],
                 "y_ticks": [[i, t] for i, t in enumerate(grid.y_ticks) if t],
                 "x_label": "feature j", "y_label": "feature i", "row": 0},
                {"type": "bars", "title": "feature norms ‖W_i‖ (purple monosemantic)",
                 "labels": [str(f["feature"]) for f in features],
                 "values": [f["norm"] or 0.0 for f in features],
                 "colours": [PURPLE if f.get("monosemantic") else GREEN for f in features],
                 "row": 0},
            ],
            "key": {"type": "diverging", "vmax": vmax, "label": "W_i·W_j",
                    "colours": samples(lambda t: diverging(-vmax + 2 * vmax * t, vmax))},
        }
