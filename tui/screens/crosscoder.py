"""Crosscoders: for one stored crosscoder (picked at the top), the relative decoder norm
histogram (the crosscoder papers' figure), its latents' classes and activation densities,
and how well it recovered the input features we know each model represents.

Data comes from two reads (`crosscoder_list`, `crosscoder_panel`) in worker threads that post
Fetched messages; nothing here touches the store. With no crosscoder stored the view says how
to train one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static

from .. import crosscoder_model as M
from ..fetch import Fetched, fetch
from ..widgets.key_bar import KeyBar
from ..widgets.plot import Plot
from .base import LabScreen


class CrosscoderScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  pick a crosscoder at the top: relative decoder norm histogram, latents by class with
  their densities, recovery of the true features · r reload · none stored: it says how"""
    VIEW = "crosscoder"
    BINDINGS = [Binding("r", "reload", "reload")]
    DEFAULT_CSS = """
    #cc-top { height: 3; }
    #cc-top Select { width: 1fr; }
    #cc-summary, #cc-empty, #cc-note { height: auto; padding: 0 1; }
    #cc-body { height: 1fr; }
    #cc-left { width: 1fr; }
    #cc-hist { height: 1fr; min-height: 10; }
    #cc-legend { height: auto; padding: 0 1; }
    #cc-side { width: 1fr; }
    #cc-classes, #cc-recovery { height: auto; max-height: 10; }
    """

    def __init__(self):
        super().__init__()
        self.crosscoders: list[dict] = []
        self.run_id: int | None = None
        self.panel: dict | None = None

    def compose(self) -> ComposeResult:
        yield from self.top_bars()
        with Horizontal(id="cc-top"):
            yield Select([], id="crosscoder", prompt="crosscoder")
        yield Static("loading…", id="cc-empty")
        yield Static("", id="cc-summary")
        with Horizontal(id="cc-body"):
            with Vertical(id="cc-left"):
                yield Plot(id="cc-hist")
                # The key under the bars, not on them (plotext draws its legend in the plot).
                yield Static("", id="cc-legend")
            with Vertical(id="cc-side"):
                yield Static("[b]latents by class[/b] (density: share of the evaluation "
                             "inputs a latent fires on)")
                yield DataTable(id="cc-classes", zebra_stripes=True)
                yield Static("[b]recovery of the true input features[/b], by where each is "
                             "really represented (norm ≥ 0.5)", id="cc-recovery-title")
                yield DataTable(id="cc-recovery", zebra_stripes=True)
                yield Static(M.RECOVERY_NOTE, id="cc-note")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#cc-classes", DataTable).add_columns(*M.CLASS_COLUMNS)
        self.query_one("#cc-recovery", DataTable).add_columns(*M.RECOVERY_COLUMNS)
        self._show_body(False)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()



    def reload(self) -> None:
        fetch(self, "crosscoders", lambda: self.lab.read("crosscoder_list"))

    def load(self, run_id: int) -> None:
        self.run_id = run_id
        fetch(self, "panel", lambda: self.lab.read("crosscoder_panel", run_id=run_id))

    def on_fetched(self, message: Fetched) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        if message.key == "crosscoders":
            self.crosscoders = message.value or []
            if not self.crosscoders:
                self.run_id, self.panel = None, None
                self._show_body(False)
                self.query_one("#cc-empty", Static).update(M.EMPTY)
                return
            choice = M.pick(self.crosscoders, self.run_id, self.app.current_run)
            select = self.query_one("#crosscoder", Select)
            with select.prevent(Select.Changed):
                select.set_options([(M.option_label(c), c["run_id"])
                                    for c in self.crosscoders])
                select.value = choice
            self.load(choice)
        elif message.key == "panel" and message.value is not None:
            self.panel = message.value
            self.draw()

    def _show_body(self, shown: bool) -> None:
        self.query_one("#cc-empty", Static).display = not shown
        for selector in ("#cc-top", "#cc-summary", "#cc-body"):
            self.query_one(selector).display = shown

    def draw(self) -> None:
        p = self.panel
        self._show_body(True)
        self.query_one("#cc-summary", Static).update(M.summary_line(p["summary"]))
        for table_id, rows in (("#cc-classes", M.class_rows(p["latents"])),
                               ("#cc-recovery", M.recovery_rows(p["features"]))):
            table = self.query_one(table_id, DataTable)
            table.clear()
            for row in rows:
                table.add_row(*row)
        truth = M.has_truth(p)  # a language model's crosscoder has no recovery to show
        self.query_one("#cc-recovery", DataTable).display = truth
        self.query_one("#cc-note", Static).update(M.RECOVERY_NOTE if truth else
                                                  f"[dim]{M.NO_TRUTH}[/]")
        self.draw_histogram()

    def draw_histogram(self) -> None:
        centres, counts = M.histogram(self.panel["latents"])
        threshold = self.panel["summary"]["class_threshold"] or 0.1
        plot = self.query_one("#cc-hist", Plot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("relative decoder norms of the live latents")
        plt.xlabel("r = ‖d_dense‖/(‖d_dense‖+‖d_MoE‖): 0 MoE-only, 1 dense-only")
        shown = [c for c in M.CLASSES if any(counts[c])]
        top = max((sum(counts[c][i] for c in shown) for i in range(len(centres))), default=0)
        plt.yticks(list(range(0, top + 1, max(1, -(-top // 5)))))
        if shown:
            plt.stacked_bar(centres, [counts[c] for c in shown],
                            color=[M.CLASSES[c][1] for c in shown])
        self.query_one("#cc-legend", Static).update(M.legend(counts))
        for x in (threshold, 1 - threshold):
            plt.vertical_line(x, color="gray")
        plt.xlim(0, 1)
        plt.xticks([0, threshold, 0.5, 1 - threshold, 1])
        plot.replot()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "crosscoder" and event.value != Select.BLANK:
            self.load(int(event.value))

    def figure_name(self) -> str:
        return f"crosscoder-{self.run_id}"

    def figure_spec(self) -> dict | None:
        if self.panel is None:
            return None
        centres, counts = M.histogram(self.panel["latents"])
        totals = [sum(counts[c][i] for c in M.CLASSES) for i in range(len(centres))]
        # each bin coloured by the class most of its latents belong to
        colours = [max(M.CLASSES, key=lambda c, i=i: counts[c][i]) for i in range(len(centres))]
        return {"title": f"crosscoder run {self.run_id}", "panels": [
            {"type": "bars", "title": "relative decoder norm r (live latents)", "row": 0,
             "labels": [f"{x:.2f}" for x in centres], "values": totals,
             "colours": [M.CLASSES[c][2] for c in colours]},
            {"type": "table", "title": "latents by class", "row": 1,
             "columns": list(M.CLASS_COLUMNS), "rows": M.class_rows(self.panel["latents"])},
            {"type": "table", "title": "recovery of the true input features", "row": 2,
             "columns": list(M.RECOVERY_COLUMNS) if M.has_truth(self.panel) else ["recovery"],
             "rows": M.recovery_rows(self.panel["features"]) if M.has_truth(self.panel)
             else [[M.NO_TRUTH]]}]}
