"""The Experts view's MoE Lens panel (issue 14): per MoE run, how concentrated routing is
(the most used expert's share, the top quarter's, the routing entropy), for k > 1 how close
the top-weighted expert alone comes to the ensemble (top-1 cosine, top-1-only loss relative
to the full loss), and what removing each expert costs (its inputs go to their next choice).

It shows one run of the chosen experiment at a time, the app's current run when it belongs
to the experiment, else the first MoE run; [ and ] step through the experiment's chosen runs
(MoE runs first); dense runs say that MoE Lens does not apply. Below, the means per setup.
Reads run in workers (tui/fetch.py) and come back as messages; nothing here blocks.
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from ..fetch import Fetched, fetch
from ..format import num

EXPERT_COLUMNS = ("expert", "usage %", "loss without it", "× full loss")
SETUP_COLUMNS = ("setup", "runs", "top expert %", "top quarter %", "entropy (nats)",
                 "top-1 cosine", "top-1 loss × full", "worst removal × full")
# The per-setup table's headers on two short lines, its setups on two (shape, then router
# init and gating), the columns explained above it: the table fits the panel's 78 columns
# at 160 (one-line labels made it 130 wide, clipped).
SETUP_HEADERS = ("setup", "runs", "top\n%", "top ¼\n%", "entropy\nnats", "top-1\ncos",
                 "top-1\nloss ×", "worst\nremoval")
SETUPS_TITLE = ("[b]MoE Lens per setup[/b] (means over the chosen runs)\n[dim]top %: the most "
                "used expert's share of the routing weight, top ¼: the top quarter's · top-1 "
                "cos and loss: the top expert alone against the ensemble (k > 1) · × and "
                "worst removal: loss ÷ the full model's[/]")
NO_ROUTER = ("No MoE Lens for this run: it was imported from the authors' file {file}, "
             "which holds the experts' weights but no router, and MoE Lens reads the router.")


def pct(v) -> str:
    return "∅" if v is None else f"{v * 100:.1f}"


def setup_text(r: dict) -> str:
    text = f"n={r['n_features']} E={r['n_experts']} k={r['k']} m={r['d_hidden']}"
    if r.get("gating") not in (None, "renorm"):
        text += f" {r['gating']}"
    return f"{text} {r['router_init']}"


def setup_cell(r: dict) -> str:
    """setup_text on two lines: the shape, then the router init (and gating)."""
    gating = f" {r['gating']}" if r.get("gating") not in (None, "renorm") else ""
    return (f"n={r['n_features']} E={r['n_experts']} k={r['k']} m={r['d_hidden']}\n"
            f"{r['router_init']}{gating}")


def run_title(run: dict, position: int, total: int) -> str:
    cell = f"sparsity {num(run['sparsity'], 3)}, last importance {num(run['last_importance'], 3)}"
    seed = "" if run.get("seed") is None else f", seed {run['seed']}"
    return (f"[b]MoE Lens[/b] · run {run['run_id']} ({position + 1} of {total}; [ ] step)\n"
            f"{setup_text(run) if run['n_experts'] > 1 else 'dense'} · {cell}{seed}")


def lens_text(run: dict, lens: dict | None) -> str:
    """The run's numbers as lines of markup; what does not apply says so."""
    if run["n_experts"] <= 1:
        return ("MoE Lens does not apply to dense runs (one expert, no router): nothing to "
                "concentrate, no top-1 expert, no expert to remove.")
    if lens is None and run.get("imported_from"):
        return NO_ROUTER.format(file=run["imported_from"])
    if lens is None:
        return ("No MoE Lens stored for this run (stored before MoE Lens was computed); "
                "runs trained from now on have it.")
    E = run["n_experts"]
    lines = [f"routing: top expert {pct(lens['top_share'])} % of the routing weight, top "
             f"quarter ({max(1, math.ceil(E / 4))} of {E}) {pct(lens['top_quarter_share'])} %,"
             f" entropy {num(lens['routing_entropy'], 3)} nats (even: ln {E} = "
             f"{math.log(E):.3g})"]
    if run["k"] > 1:
        lines.append(f"top-1 (k = {run['k']}): cosine with the full output "
                     f"{num(lens['top1_cosine'], 3)}; top expert alone: loss "
                     f"{num(lens['top1_loss_ratio'], 3)} × full ({num(lens['top1_loss'], 3)} "
                     f"vs {num(lens['full_loss'], 3)})")
    else:
        lines.append(f"top-1: k = 1, the top expert is the whole output (top-1 numbers need "
                     f"k > 1); full loss {num(lens['full_loss'], 3)}")
    return "\n".join(lines)


def expert_rows(lens: dict | None) -> list[tuple]:
    return [(str(e["expert"]), pct(e["usage"]), num(e["ablation_loss"], 3),
             num(e["ablation_loss_ratio"], 3)) for e in (lens or {}).get("experts", [])]


def setup_rows(setups: list[dict]) -> list[tuple]:
    return [(setup_cell(s), str(s["n_runs"]), pct(s["top_share"]), pct(s["top_quarter_share"]),
             num(s["routing_entropy"], 3),
             num(s["top1_cosine"], 3) if s["k"] > 1 else "k=1",
             num(s["top1_loss_ratio"], 3) if s["k"] > 1 else "k=1",
             num(s["max_ablation_ratio"], 3)) for s in setups]


class LensPanel(VerticalScroll):
    """Shows the MoE Lens of one run of an experiment; `show_experiment` (re)loads it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.experiment: int | None = None
        self.run_ids: list[int] = []
        self.position = 0
        self.setups: list[dict] = []
        self.shown: dict | None = None  # lens_of_run's answer on screen

    def compose(self) -> ComposeResult:
        yield Static("[b]MoE Lens[/b]", id="lens-title")
        yield Static("", id="lens-numbers")
        yield DataTable(id="lens-experts", zebra_stripes=True)
        yield Static(SETUPS_TITLE, id="lens-setups-title")
        yield DataTable(id="lens-setups", zebra_stripes=True, header_height=2)

    def on_mount(self) -> None:
        self.query_one("#lens-experts", DataTable).add_columns(*EXPERT_COLUMNS)
        self.query_one("#lens-setups", DataTable).add_columns(*SETUP_HEADERS)

    def show_experiment(self, experiment: int) -> None:
        self.experiment = experiment
        lab = self.app.lab
        fetch(self, "lens-choices", lambda: (experiment, lab.read("lens_choices",
                                                                 experiment_id=experiment)))

    def step(self, delta: int) -> None:
        if self.run_ids:
            self.position = (self.position + delta) % len(self.run_ids)
            self.app.current_run = self.run_ids[self.position]  # 4 opens it
            self._load_run()

    def _load_run(self) -> None:
        run_id, lab = self.run_ids[self.position], self.app.lab
        fetch(self, "lens-run", lambda: lab.read("lens_of_run", run_id=run_id))

    def on_fetched(self, message: Fetched) -> None:
        if not message.key.startswith("lens-"):
            return
        message.stop()  # the panel's own answers: the screen has nothing to do with them
        if message.error:
            self.query_one("#lens-numbers", Static).update(f"[red]{message.error}[/]")
            return
        if message.key == "lens-choices":
            experiment, choices = message.value
            if experiment != self.experiment:
                return
            self.run_ids, self.setups = choices["run_ids"], choices["setups"]
            current = self.app.current_run
            self.position = self.run_ids.index(current) if current in self.run_ids else 0
            self._show_setups(choices["n_moe"], choices.get("n_imported", 0))
            if self.run_ids:
                self._load_run()
            else:
                self._show_run(None)
        elif message.key == "lens-run":
            wanted = self.run_ids[self.position] if self.run_ids else None
            if message.value is None or message.value["run"]["run_id"] == wanted:
                self._show_run(message.value)  # else an answer for a run since left

    def _show_setups(self, n_moe: int, n_imported: int = 0) -> None:
        table = self.query_one("#lens-setups", DataTable)
        table.clear()
        for row in setup_rows(self.setups):
            table.add_row(*row, height=2)
        if not n_moe:
            table.add_row("no MoE runs: MoE Lens does not apply to dense runs",
                          *[""] * (len(SETUP_COLUMNS) - 1))
        elif not self.setups and n_imported:
            table.add_row("none: the authors' files hold no routers",
                          *[""] * (len(SETUP_COLUMNS) - 1))
        elif not self.setups:
            table.add_row("no MoE Lens stored for this experiment's runs",
                          *[""] * (len(SETUP_COLUMNS) - 1))

    def _show_run(self, value: dict | None) -> None:
        self.shown = value
        title = self.query_one("#lens-title", Static)
        numbers = self.query_one("#lens-numbers", Static)
        experts = self.query_one("#lens-experts", DataTable)
        experts.clear()
        if value is None:
            title.update("[b]MoE Lens[/b]")
            numbers.update("This experiment has no chosen runs yet.")
            experts.display = False
            return
        run, lens = value["run"], value["lens"]
        title.update(run_title(run, self.position, len(self.run_ids)))
        numbers.update(lens_text(run, lens))
        rows = expert_rows(lens)
        experts.display = bool(rows)
        for row in rows:
            experts.add_row(*row)

    def figure_table(self) -> dict | None:
        """The shown run's per-expert numbers as an exported table panel, or None."""
        if not self.shown or not self.shown["lens"]:
            return None
        run = self.shown["run"]
        return {"type": "table", "title": f"MoE Lens, run {run['run_id']} "
                f"({setup_text(run)}): loss when each expert is removed",
                "columns": list(EXPERT_COLUMNS),
                "rows": [list(r) for r in expert_rows(self.shown["lens"])]}
