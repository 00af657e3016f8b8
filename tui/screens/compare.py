"""Compare: the runs marked with space, side by side.

Training curves of any logged metric overlaid (m picks the metric); a table with one column
per run (or group) holding only the config fields that differ and the final metrics; and
the Gram matrix and feature norms of each, next to each other ([ ] switch experts). g groups
runs whose configs differ only by seed: curves then show the mean with a 95% band and the
table mean ± half-width, with a row under each final metric saying whether each group
differs from the first beyond seed noise (tui/noise_model.py); a panel under them states the
rule, the groups with one seed, and a seed control among the marked runs.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical
from textual.widgets import DataTable, Static

from .. import compare_model as cm
from .. import noise_model as nm
from ..fetch import Fetched, fetch
from ..widgets.cell_grid import CellGrid, fit_level
from ..widgets.key_bar import KeyBar
from ..widgets.plot import Plot
from .base import LabScreen
from .experts import colour_of, hex_colour
from .run_detail import gram_colours, norm_bars

WEIGHT_PANELS = 6  # Gram + norms panels drawn (the first run of each group)
CONTROL_LOOKUPS = 20  # experiments of the marked runs looked up for seed controls
EMPTY = ("[b]Nothing to compare yet.[/b] Mark runs with [b]space[/b] in Runs (1), the phase "
         "diagram (3), a run's detail (4) or SQL results with a run_id (6), then press "
         "[b]7[/b].")


class CompareScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  g  group runs whose config differs only by seed (mean and 95% band) or show each run
  m  next logged metric for the curves · [ ] expert of the Gram panels · u unmark all
  grouped, a row under each final metric says whether each group "differs beyond seed
  noise" from the first (the 95% intervals of their means do not overlap) or is "within
  seed noise"; a group with one seed has no noise floor (queue with --set train.seeds=N)"""
    VIEW = "compare"
    BINDINGS = [
        Binding("g", "toggle_groups", "group by config"),
        Binding("m", "next_metric", "metric"),
        Binding("right_square_bracket", "expert(1)", "next expert", show=False),
        Binding("left_square_bracket", "expert(-1)", "prev expert", show=False),
        Binding("u", "unmark", "unmark all"),
        Binding("r", "reload", "reload", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.grouped = True
        self.metric = "loss"
        self.metrics: list[str] = []
        self.runs: list[dict] = []
        self.curves: dict[str, list] = {}
        self.weights: dict[str, list] = {}
        self.groups: list[cm.Group] = []
        self.pairs: list[tuple[int, int]] = []  # (experiment, its seed control) marked
        self.expert = 0
        self.loaded: tuple = ()

    def compose(self) -> ComposeResult:
        # Its reads start here, while the widgets mount (Textual handles their answer after
        # on_mount: a screen's compose and mount come before its queued messages).
        self.hold_paint()  # drawn once, with the runs
        if self.app.marked:
            self.reload()
        yield from self.top_bars()
        yield Static(EMPTY, id="compare-title")
        with Horizontal(id="compare-top"):
            yield Plot(id="compare-plot")
            yield DataTable(id="compare-table", zebra_stripes=True)
        yield Static("", id="compare-noise")
        yield HorizontalScroll(id="compare-weights")
        yield KeyBar()

    def on_mount(self) -> None:
        if not self.loaded:  # nothing marked: nothing to read
            self.reload()

    def on_screen_resume(self) -> None:
        if self.loaded != (tuple(sorted(self.app.marked)), self.metric):
            self.reload()



    def reload(self) -> None:
        ids = sorted(self.app.marked)
        metric = self.metric
        self.loaded = (tuple(ids), metric)
        if not ids:
            self.show([], [], {}, {})
            self.release_paint()
            return

        def work():
            runs = self.lab.read("compare_runs", run_ids=ids)
            names = self.lab.read("compare_metric_names", run_ids=ids)
            chosen = metric if metric in names or not names else names[0]
            curves = self.lab.read("compare_curves", run_ids=ids, metric=chosen)
            firsts = [g.runs[0]["run_id"] for g in cm.make_groups(runs, True)]
            firsts += [r["run_id"] for r in runs if r["run_id"] not in firsts]
            weights = self.lab.read("compare_weights", run_ids=firsts[:WEIGHT_PANELS * 2])
            exps = sorted({r["experiment_id"] for r in runs})[:CONTROL_LOOKUPS]
            controls = {e: self.lab.read("controls_of", experiment_id=e) for e in exps}
            return runs, names, curves, weights, chosen, nm.control_pairs(exps, controls)
        fetch(self, "compare", work)

    def on_fetched(self, message: Fetched) -> None:
        if message.error:
            self.release_paint()
            self.notify(message.error, severity="error")
            return
        if message.key == "compare":
            runs, names, curves, weights, chosen, self.pairs = message.value
            self.metric = chosen
            self.show(runs, names, curves, weights)
            if not runs:
                self.release_paint()  # (with runs: once their panels are mounted)
        elif message.key == "curves":
            self.curves = message.value
            self.draw_curves()

    # -- drawing ---------------------------------------------------------------------------
    def show(self, runs, names, curves, weights) -> None:
        self.runs, self.metrics, self.curves, self.weights = runs, names, curves, weights
        self.query_one("#compare-top").display = bool(runs)
        self.query_one("#compare-weights").display = bool(runs)
        self.query_one("#compare-noise").display = bool(runs)
        if not runs:
            self.groups = []
            self.query_one("#compare-title", Static).update(EMPTY)
            return
        self.groups = cm.make_groups(runs, self.grouped)
        n_groups = len(self.groups)
        how = (f"{n_groups} group{'s' if n_groups != 1 else ''} (same config except seed: "
               "mean, 95% band)" if self.grouped else "each run on its own")
        self.query_one("#compare-title", Static).update(
            f"[b]Comparing {len(runs)} runs[/b] · {how} · curves of [b]{self.metric}[/b]   "
            "[dim](g groups/ungroups · m metric · \\[ ] expert · u unmarks all)[/]")
        self.query_one("#compare-noise", Static).update(
            "\n".join(nm.panel_lines(self.groups, self.grouped, self.pairs)))
        self.draw_curves()
        self.draw_table()
        self.draw_weights()

    def bands(self) -> tuple[list[tuple], bool]:
        """Per group: (steps, mean, low, high) with the 95% band cut at the range of the
        curves' values; and whether any band was cut (the view and its export say so)."""
        curves = [[self.curves.get(str(r), []) for r in g.run_ids] for g in self.groups]
        bounds = cm.data_range([c for cs in curves for c in cs])
        out, clipped = [], False
        for g, cs in zip(self.groups, curves, strict=True):
            steps, mean, lo, hi = cm.curve_band(cs)
            lo, hi, cut = cm.clip_band(lo, hi, bounds)
            clipped |= cut and len(g.runs) > 1
            out.append((steps, mean, lo, hi))
        return out, clipped

    def curves_title(self, clipped: bool) -> str:
        cut = " (95% band cut at the data's range: too few seeds)" if clipped else ""
        return f"{self.metric} against step{cut}"

    def draw_curves(self) -> None:
        plot = self.query_one("#compare-plot", Plot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        bands, clipped = self.bands()
        plt.title(self.curves_title(clipped))
        plt.xlabel("step")
        for i, (g, (steps, mean, lo, hi)) in enumerate(zip(self.groups, bands, strict=True)):
            colour = colour_of(i)
            if not steps:
                continue
            plt.plot(steps, mean, label=g.label[:40], color=colour, marker="braille")
            if len(g.runs) > 1:
                plt.plot(steps, lo, color=colour, marker="dot")
                plt.plot(steps, hi, color=colour, marker="dot")
        plot.replot()

    def draw_table(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("")
        for i, g in enumerate(self.groups):
            colour = hex_colour(i)
            table.add_column(Text(g.label[:28], style=f"bold {colour}"))
        for row in self.table_rows():
            table.add_row(*row)

    def table_rows(self) -> list[list[str]]:
        """Differing config, final metrics and, grouped, the seed-noise verdicts."""
        rows = cm.table_rows(self.groups, cm.differing(self.runs))
        return nm.table_rows(self.groups, rows) if self.grouped else rows

    def draw_weights(self) -> None:
        box = self.query_one("#compare-weights", HorizontalScroll)
        box.remove_children()
        panels = []
        for i, g in enumerate(self.groups[:WEIGHT_PANELS]):
            experts = self.weights.get(str(g.run_ids[0])) or []
            if not experts:
                continue
            e = experts[min(self.expert, len(experts) - 1)]
            colours, vmax = gram_colours(e["gram"])
            n = len(colours)
            grid = CellGrid(f"run {g.run_ids[0]} · expert {e['expert']}",
                            classes="compare-gram")
            shown = max(1, min(len(self.groups), WEIGHT_PANELS))
            grid.level = fit_level(n, n, max(self.size.width // shown - 4, 12), 24,
                                   label_width=4)
            ticks = [str(j) if j in (0, n - 1) else "" for j in range(n)]
            grid.set_data(colours, ticks, ticks, f"±{vmax:.3g}", "i")
            title = Static(Text(g.label[:34], style="bold " + hex_colour(i)))
            norms = Static(norm_bars(e["features"]), classes="compare-norms")
            panels.append(Vertical(title, grid, norms, classes="compare-panel"))
        if panels:
            mounted = box.mount_all(panels)
            if self._holding:  # the view's first frame: drawn once the panels are in

                async def release() -> None:
                    await mounted
                    self.release_paint()
                self.run_worker(release(), group="weights-mounted")
                return
        self.release_paint()

    # -- keys ------------------------------------------------------------------------------
    def action_toggle_groups(self) -> None:
        self.grouped = not self.grouped
        self.show(self.runs, self.metrics, self.curves, self.weights)

    def action_next_metric(self) -> None:
        if not self.metrics or not self.runs:
            return
        i = self.metrics.index(self.metric) if self.metric in self.metrics else -1
        self.metric = self.metrics[(i + 1) % len(self.metrics)]
        ids, metric = sorted(self.app.marked), self.metric
        self.loaded = (tuple(ids), metric)
        self.show(self.runs, self.metrics, self.curves, self.weights)
        fetch(self, "curves", lambda: self.lab.read("compare_curves", run_ids=ids,
                                                    metric=metric))

    def action_expert(self, delta: int) -> None:
        self.expert = max(0, self.expert + delta)
        self.draw_weights()

    def action_unmark(self) -> None:
        self.app.set_marks(())

    def marks_changed(self) -> None:
        super().marks_changed()
        self.reload()

    def figure_name(self) -> str:
        return f"compare-{len(self.runs)}-runs-{self.metric}"

    def figure_spec(self):
        if not self.groups:
            return None
        series = []
        bands, clipped = self.bands()
        for i, (g, (steps, mean, lo, hi)) in enumerate(zip(self.groups, bands, strict=True)):
            s = {"label": g.label, "colour": hex_colour(i), "x": steps,
                 "y": mean}
            if len(g.runs) > 1:
                s.update(lo=lo, hi=hi)
            series.append(s)
        panels = [{"type": "lines", "title": self.curves_title(clipped), "row": 0,
                   "x_label": "step", "y_label": self.metric, "series": series},
                  {"type": "table", "title": "differing config, final metrics, seed noise",
                   "row": 0,
                   "columns": [""] + [g.label[:24] for g in self.groups],
                   "rows": self.table_rows()}]
        for grid in self.query(CellGrid):
            panels.append({"type": "grid", "title": grid.title, "colours": grid.colours,
                           "row": 1, "x_label": "feature j", "y_label": "feature i"})
        return {"title": f"{len(self.runs)} runs compared", "panels": panels}
