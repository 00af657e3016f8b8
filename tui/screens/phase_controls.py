"""The phase diagram's layers on screen (mixed into PhaseScreen): seed stability marks, the
snapshot-step control (, and . as in run detail; the arrows move the cursor), custom
metrics in the colouring cycle, and the title line that says what the diagram shows.

Data comes from workers as Fetched messages (tui/fetch.py); what is merged where is pure
data in tui/phase_layers.py.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Select, Static

from .. import phase_layers as pl
from ..fetch import Fetched, fetch

BINDINGS = [
    Binding("comma", "step(-1)", "earlier step"),
    Binding("full_stop", "step(1)", "later step"),
]


def layer_asks(request: tuple, exp: int) -> tuple[int | None, str | None]:
    """(step, metric) to read with exp's layers: those on show, when they are exp's."""
    same = request[0] == exp
    return (request[1] if same else None), (request[2] if same else None)


class PhaseControls:
    """Needs from the screen: experiment, experiment_name, experiment_state, colouring, lab,
    show_grids, paint, query_one, notify."""

    overlay: pl.Layers
    final_grids: list[dict]

    def init_layers(self) -> None:
        self.overlay = pl.Layers()
        self.final_grids = []
        self.step_target: int | None = None  # the step asked for, until its data arrives
        self._colouring_keys: tuple = ()

    def shown_layers(self) -> pl.Layers:
        """The layers of the experiment on show (none while another one's are loaded)."""
        return self.overlay if self.overlay.experiment == self.experiment else pl.Layers()

    def layered(self, grids: list[dict]) -> list[dict]:
        """What show_grids draws: the final grids as read, with this experiment's layers."""
        self.final_grids = grids
        return pl.apply(grids, self.shown_layers())

    def layer_request(self) -> tuple:
        """What a layers read asks for, taken on the UI thread: the experiment whose layers
        are loaded, with the step and metric on show (so they follow new results)."""
        return self.overlay.experiment, self.overlay.step, pl.metric_name(self.colouring)

    def read_layers(self, exp: int, request: tuple) -> dict:
        """Stability, snapshot steps, metrics and source of exp (in a worker)."""
        return pl.read(self.lab, exp, *layer_asks(request, exp))

    def take_layers(self, value: dict) -> None:
        """Absorb a layers read of the experiment on show (read with its grids, in the same
        worker, so that the diagram is painted once)."""
        if self.overlay.experiment != value["experiment"]:
            self.step_target = None
        self.overlay = pl.absorb(self.overlay, value)
        self._sync_colourings()

    def layer_fetched(self, message: Fetched) -> bool:
        """Handle the layers' answers; False for a message that is not one of them."""
        if message.key not in ("phase-step", "phase-metric"):
            return False
        value = message.value
        if value["experiment"] != self.experiment:
            return True  # the user has moved on to another experiment
        if message.key == "phase-step":
            if value["step"] != self.step_target:
                return True  # stepped on (or back to the final weights) meanwhile
            self.overlay.step, self.overlay.at_step = value["step"], value["at_step"]
        else:
            self.overlay.values[value["name"]] = value["values"]
        self.show_grids(self.final_grids)
        return True

    # -- step control ----------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        layers, exp = self.overlay, self.experiment
        if exp is None or layers.experiment != exp:
            return
        if not layers.steps:
            self.notify("no snapshots in this experiment: train it with train.snapshots = N "
                        "to see its phase diagram at earlier steps")
            return
        positions: list[int | None] = [*layers.steps, None]  # None: the final weights
        now = self.step_target if self.step_target in layers.steps else None
        at = positions.index(now) + delta
        new = positions[max(0, min(len(positions) - 1, at))]
        if new == now:
            return
        self.step_target = new
        if new is None:
            layers.step, layers.at_step = None, None
            self.show_grids(self.final_grids)
            return
        fetch(self, "phase-step", lambda: {"experiment": exp, "step": new,
                                           "at_step": pl.read_step(self.lab, exp, new)})

    # -- colourings ------------------------------------------------------------------------
    def colouring_names(self) -> list[str]:
        return list(pl.colourings(self.overlay))

    def need_metric(self) -> None:
        """A custom metric chosen as colouring: read its values once."""
        name, exp = pl.metric_name(self.colouring), self.experiment
        if name is None or exp is None or name in self.overlay.values:
            return
        fetch(self, "phase-metric", lambda: {"experiment": exp, "name": name,
                                             "values": pl.read_metric(self.lab, exp, name)})

    def _sync_colourings(self) -> bool:
        """The colouring choices with this experiment's metrics; True when they changed."""
        options = pl.colourings(self.overlay)
        # keys and labels: another experiment's metric of the same name says "no values
        # here" where this one has values
        if tuple(options.items()) == self._colouring_keys:
            return False
        self._colouring_keys = tuple(options.items())
        current = self.colouring if self.colouring in options else "paper"
        select = self.query_one("#colouring", Select)
        with select.prevent(Select.Changed):  # the caller repaints
            select.set_options([(label, key) for key, (label, _) in options.items()])
            select.value = current
        self.colouring = current
        return True

    # -- text ------------------------------------------------------------------------------
    def show_title(self, legend: Text) -> Text:
        """Update the title line; the legend with its line on seed stability."""
        layers = self.shown_layers()
        self.query_one("#phase-title", Static).update(
            pl.title(self.experiment, self.experiment_name, layers, self.experiment_state()))
        lines = [pl.stability_line(self.grids, layers)]
        name = pl.metric_name(self.colouring)
        if name is not None and name not in layers.values:
            lines.insert(0, f"reading {name}…")
        elif name is not None and self.grids and not any(
                v is not None for g in self.grids for v in g["columns"].get(self.colouring, ())):
            lines.insert(0, f"no values of {name} for these runs yet: `moelab metric compute "
                         f"{name} --experiment {self.experiment}`")
        elif name is not None and layers.step is not None:
            lines.insert(0, "custom metrics are computed on the final weights: the same at "
                         "every step")
        line = "\n".join(x for x in lines if x)
        return legend.append_text(Text.from_markup("\n" + line)) if line else legend

    def plain_title(self) -> str:
        layers = self.shown_layers()
        return Text.from_markup(pl.title(self.experiment, self.experiment_name, layers,
                                         self.experiment_state(), hints=False)).plain

    def flags(self, grid: dict, slot) -> set[tuple[int, int]]:
        """Unstable cells of one grid's slots (marked at the final weights only)."""
        return pl.flagged(grid, slot, self.shown_layers()) if self.overlay.step is None else set()
