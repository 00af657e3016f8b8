"""The Experts view's MoE Lens panel for small language models (the lm family, docs/lm.md):
per held-out domain and layer of a trained MoE, how concentrated routing is (the top
expert's and the top quarter's share of the routing weight, the entropy over log E), early
decoding (the cosine of the residual stream after the layer with only the top-weighted
expert against the full mixture, and the logit-lens perplexity with it ÷ with the full
mixture), then per domain the perplexity with only the top expert at every layer and the
expert ablation (the worst and the mean rise of perplexity when one expert is removed).

It replaces the toy panel (experts_lens.py) while the chosen experiment holds lm models;
[ ] step through its MoE models. One read (`lm_lens_panel`) in a worker; nothing blocks.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from ..fetch import Fetched, fetch
from ..format import num

LAYER_COLUMNS = ("domain", "layer", "top %", "top ¼ %", "entropy / ln E", "top-1 cos",
                 "top-1 ppl ×")
LAYER_HEADERS = ("domain", "layer", "top\n%", "top ¼\n%", "entropy\n/ ln E", "top-1\ncos",
                 "top-1\nppl ×")
DOMAIN_COLUMNS = ("domain", "perplexity", "top-1 only", "top-1 rise %", "worst removal %",
                  "expert (layer)", "mean removal %")
DOMAIN_HEADERS = ("domain", "perplexity", "top-1\nonly", "top-1\nrise %", "worst\nremoval %",
                  "expert\n(layer)", "mean\nremoval %")
NOTE = ("[dim]per layer: top %: the most used expert's share of the routing weight, top ¼: "
        "the top quarter's · top-1 cos: the residual after the layer with only the "
        "top-weighted expert vs the full mixture (MoE Lens: up to 0.95) · top-1 ppl ×: its "
        "logit-lens perplexity ÷ the full one · per domain: only the top expert at every "
        "layer (MoE Lens: about +5 %), and one expert removed (its tokens to their next "
        "choice)[/]")


def pct(v) -> str:
    return "∅" if v is None else f"{v * 100:.1f}"


def model_text(run: dict) -> str:
    return (f"{run['n_layers']} layers, d_model {run['d_model']}, E={run['n_experts']} "
            f"k={run['k']} (experts {run['d_expert']} wide), {run['n_params']:,} weights "
            f"({run['n_active_params']:,} active), seed {run['seed']}")


def title(panel: dict, position: int) -> str:
    runs = panel["runs"]
    if not runs:
        return ("[b]MoE Lens[/b] · language models\nNo MoE model in this experiment: MoE Lens "
                f"does not apply to its {panel['n_dense']} dense model(s).")
    run = runs[position]
    return (f"[b]MoE Lens[/b] · lm run {run['run_id']} ({position + 1} of {len(runs)}; "
            f"[ ] step)\n{model_text(run)}")


def layer_rows(panel: dict, run_id: int) -> list[tuple]:
    out = []
    for r in panel["lens"]:
        if r["run_id"] != run_id:
            continue
        ratio = (None if r["lens_perplexity"] in (None, 0) or r["lens_perplexity_top1"] is None
                 else r["lens_perplexity_top1"] / r["lens_perplexity"])
        out.append((r["domain"], str(r["layer"]), pct(r["share_top1"]),
                    pct(r["share_top_quarter"]), num(r["entropy_norm"], 3),
                    num(r["cos_hidden"], 3), num(ratio, 4)))
    return out


def domain_rows(panel: dict, run_id: int) -> list[tuple]:
    out = []
    for d in panel["domains"]:
        if d["run_id"] != run_id:
            continue
        where = ("∅" if d["worst_expert"] is None
                 else f"{d['worst_expert']} ({d['worst_layer']})")
        out.append((d["domain"], num(d["perplexity"], 4), num(d["perplexity_top1"], 4),
                    pct(d["top1_increase"]), pct(d["worst_increase"]), where,
                    pct(d["mean_increase"])))
    return out


class LMLensPanel(VerticalScroll):
    """MoE Lens of an lm experiment's MoE models; hidden (and the toy panel shown) for any
    other experiment. `show_experiment` (re)loads it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.experiment: int | None = None
        self.panel: dict | None = None  # lm_lens_panel's answer on screen
        self.position = 0

    def compose(self) -> ComposeResult:
        yield Static("[b]MoE Lens[/b]", id="lmlens-title")
        yield Static(NOTE, id="lmlens-note")
        yield DataTable(id="lmlens-layers", zebra_stripes=True, header_height=2)
        yield DataTable(id="lmlens-domains", zebra_stripes=True, header_height=2)

    def on_mount(self) -> None:
        self.query_one("#lmlens-layers", DataTable).add_columns(*LAYER_HEADERS)
        self.query_one("#lmlens-domains", DataTable).add_columns(*DOMAIN_HEADERS)

    def show_experiment(self, experiment: int) -> None:
        self.experiment = experiment
        lab = self.app.lab
        fetch(self, "lmlens", lambda: (experiment, lab.read("lm_lens_panel",
                                                            experiment_id=experiment)))

    @property
    def active(self) -> bool:
        return self.panel is not None

    def step(self, delta: int) -> None:
        if self.panel and self.panel["runs"]:
            self.position = (self.position + delta) % len(self.panel["runs"])
            self.app.current_run = self.panel["runs"][self.position]["run_id"]
            self._show()

    def on_fetched(self, message: Fetched) -> None:
        if message.key != "lmlens":
            return
        message.stop()  # the panel's own answer: nothing for the screen
        if message.error:
            self.query_one("#lmlens-title", Static).update(f"[red]{message.error}[/]")
            return
        experiment, panel = message.value
        if experiment != self.experiment:
            return  # an answer for an experiment since left
        self.panel = panel
        self.display = panel is not None
        self.screen.query_one("#lens").display = panel is None  # the toy panel otherwise
        if panel is not None:
            ids = [r["run_id"] for r in panel["runs"]]
            current = self.app.current_run
            self.position = ids.index(current) if current in ids else 0
            self._show()

    def _show(self) -> None:
        panel = self.panel
        self.query_one("#lmlens-title", Static).update(title(panel, self.position))
        layers = self.query_one("#lmlens-layers", DataTable)
        domains = self.query_one("#lmlens-domains", DataTable)
        layers.clear()
        domains.clear()
        run_id = panel["runs"][self.position]["run_id"] if panel["runs"] else None
        for row in layer_rows(panel, run_id):
            layers.add_row(*row)
        for row in domain_rows(panel, run_id):
            domains.add_row(*row)
        layers.display = domains.display = run_id is not None

    def figure_tables(self) -> list[dict]:
        """The shown model's two tables as exported table panels ([] when none)."""
        if not self.panel or not self.panel["runs"]:
            return []
        run = self.panel["runs"][self.position]
        name = f"lm run {run['run_id']} ({model_text(run)})"
        return [{"type": "table", "title": f"MoE Lens per domain and layer, {name}",
                 "columns": list(LAYER_COLUMNS),
                 "rows": [list(r) for r in layer_rows(self.panel, run["run_id"])]},
                {"type": "table", "title": f"MoE Lens per domain, {name}",
                 "columns": list(DOMAIN_COLUMNS),
                 "rows": [list(r) for r in domain_rows(self.panel, run["run_id"])]}]
