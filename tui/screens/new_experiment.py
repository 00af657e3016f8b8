"""New experiment: a preset's fields and sweep variants as a form, checked as you type (off
the UI thread, see tui/validate.py), then queued.

The variants are shown and editable, one line each, and every field a variant overrides is
marked: editing model.n_features on fig4 says at once that the variants set it again.
Validation is the engine's own, so the messages are exactly those of `moelab run`. The
"seed control" switch queues the same config again with other seeds (tui/submit.py).
"""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch

from .. import form_model as fm
from ..fetch import Fetched, fetch
from ..format import duration
from ..submit import on_submitted, submit_preset  # noqa: F401 (the app's, from here)
from ..validate import Checked, Checker
from ..widgets.key_bar import KeyBar
from .base import LabScreen
from .prompts import AskButtons

DEFAULT_PRESET = "fig4"


def preset_names() -> list[str]:
    from moelab.engine.presets import PRESETS
    return list(PRESETS)


class NewExperimentScreen(LabScreen):
    # its keys, as the help (?) lists them
    HELP = """\
  pick a preset, edit fields as TOML values; problems show as you type (checked in the
  background) · fields a sweep variant sets again are marked ◆ · the variants are listed
  below the fields, one per line: edit them, empty one to remove it, ctrl+n adds one
  ↑ ↓ move between fields · ctrl+u empties the field · ctrl+r queues (the name is cleared)
  seed control (switch at the top): also queue the same config with other seeds, named
  "NAME (control of N)": the seed noise for Compare (7) and `moelab compare N B`"""
    VIEW = "new"
    BINDINGS = [Binding("ctrl+r", "queue", "queue it"),
                Binding("ctrl+n", "add_variant", "add variant"),
                # Input's own ctrl+u deletes only left of the cursor; here it empties the
                # field (and so removes a variant), as the form's help says.
                Binding("ctrl+u", "clear_field", "clear field", show=False, priority=True)]

    def __init__(self):
        super().__init__()
        self.preset = DEFAULT_PRESET
        self.quick = True
        self.control = False  # also queue a seed control
        self.base: dict = {}
        self.initial: dict[str, str] = {}
        self.seconds_per_step: float | None = None
        self.valid_raw: dict | None = None
        self.checked: Checked | None = None
        self.inputs: dict[str, Input] = {}
        self.variant_inputs: list[Input] = []
        self._labels: dict[str, str] = {}
        self._values: dict[Input, str] = {}  # each field's value as last handled
        self.names = Static("")
        self.variant_names = Static("")
        self.checker = Checker(self)
        self._rows: list[Widget] | None = None  # the form built ahead (prepare)

    def prepare(self) -> None:
        """Build the default preset's form now, before the screen opens: the app makes one
        such screen while idle (building 40 fields took 20-50 ms of the opening)."""
        self._rows = self.form_rows()

    def compose(self) -> ComposeResult:
        yield from self.top_bars()
        with Horizontal(id="new-top"):
            yield Select([(p, p) for p in preset_names()], value=self.preset,
                         allow_blank=False, id="preset")
            yield Label(" quick ")
            yield Switch(value=self.quick, id="quick")
            yield Label(" seed control ")
            yield Switch(value=self.control, id="control")
            yield Input(placeholder="name (default: the preset's)", id="name")
            yield Button("Queue", id="queue", variant="primary")
        yield Static("", id="summary")
        yield Static("", id="problems")
        # The form is in the first frame: mounted after it, the view took a second frame.
        rows, self._rows = self._rows or self.form_rows(), None
        yield VerticalScroll(*rows, id="form")
        yield KeyBar()

    def on_mount(self) -> None:
        fetch(self, "seconds_per_step", lambda: self.lab.read("seconds_per_step"))
        self.form_ready()
        self.query_one("#preset", Select).focus()  # not a text box: global keys work

    def on_unmount(self) -> None:
        self.checker.stop()

    # -- building the form ------------------------------------------------------------------
    # Names sit in one Static per column beside a column of one-line Inputs: three widgets a
    # field made the form slow to open.
    def load_preset(self) -> None:
        """The form of the preset and quick switch now chosen, in place of the last one."""
        self.run_worker(self._rebuild(self.form_rows()), group="form", exclusive=True)
        self.form_ready()

    def form_rows(self) -> list[Widget]:
        """The form's widgets for the preset and quick switch now chosen (not mounted)."""
        from moelab.engine.presets import get
        self.base = get(self.preset).raw(self.quick)
        self.initial = fm.field_values(self.base)
        # Mounting is asynchronous, so the form keeps its widgets itself. Classes are given
        # at construction: each class an Input changes afterwards (its own -valid, ours)
        # restyles it at once, which made 40 fields cost 300 ms to open.
        texts = fm.variant_texts(self.base)
        over = fm.overridden(texts)
        self.inputs = {key: Input(text, classes="field -valid" + (
            " overridden" if key in over else "")) for key, text in self.initial.items()}
        self.variant_inputs = [Input(text, classes="field variant -valid") for text in texts]
        self.names = Static("", classes="field-names")
        self.variant_names = Static("", classes="field-names")
        rows = [Horizontal(self.names, Vertical(*self.inputs.values(), classes="fields"),
                           classes="field-box"),
                Static("[b]sweep.variants[/b] [dim]one model setup per line, "
                       "`section.field = value, …`; each overrides the fields marked ◆ for its "
                       "share of the sweep. An empty line (ctrl+u) removes it, ctrl+n adds "
                       "one.[/]", classes="variants-title"),
                Horizontal(self.variant_names,
                           Vertical(*self.variant_inputs, classes="fields", id="variant-box"),
                           classes="field-box")]
        # Each Input posts Changed with its own value when mounted: nothing to check then.
        self._values = {inp: inp.value for inp in [*self.inputs.values(), *self.variant_inputs]}
        return rows

    def form_ready(self) -> None:
        self.mark_overridden()
        self.validate()

    async def _rebuild(self, rows) -> None:
        form = self.query_one("#form", VerticalScroll)
        await form.remove_children()
        await form.mount_all(rows)

    def variants(self) -> list[str]:
        return [inp.value for inp in self.variant_inputs]

    def edits(self) -> dict[str, str]:
        return {key: inp.value.strip() for key, inp in self.inputs.items()
                if inp.value.strip() != self.initial.get(key)}

    def label_text(self, key: str) -> str:
        """A field's name as shown, ◆ when a variant sets it again."""
        return self._labels.get(key, key)

    def mark_overridden(self) -> None:
        over = fm.overridden(self.variants())
        self._labels = {key: f"{key} [yellow]◆ {fm.which_variants(over[key])}[/]"
                        if key in over else key for key in self.inputs}
        self.names.update("\n".join(self._labels.values()))
        for key, inp in self.inputs.items():
            inp.set_class(key in over, "overridden")
        self.variant_names.update("\n".join(
            f"variant {i}" + ("" if inp.value.strip() else " [dim](removed)[/]")
            for i, inp in enumerate(self.variant_inputs)))

    # -- checking ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Ask for a check; the answer arrives as Checked (never on this thread)."""
        name = self.query_one("#name", Input).value.strip() or self.preset
        self.valid_raw = None
        self.query_one("#summary", Static).update("[dim]checking…[/]")
        self.checker.request(self.base, self.edits(), self.variants(), name)

    def on_checked(self, message: Checked) -> None:
        if not self.checker.current(message):
            return  # an older edit's answer
        self.checked = message
        problems = self.query_one("#problems", Static)
        summary = self.query_one("#summary", Static)
        ignored = fm.ignored_edits(self.edits(), self.variants())
        notes = [f"[yellow]◆ {escape(k)} = {escape(self.edits()[k])} changes nothing: every "
                 "variant sets it again (edit or remove the variants below)[/]"
                 for k in ignored]
        if message.raw is None:
            self.valid_raw = None
            problems.update("\n".join([f"[red]✗ {escape(p)}[/]" for p in message.problems]
                                      + notes))
            summary.update("[red]fix the fields below to queue this experiment[/]")
            return
        self.valid_raw = message.raw
        problems.update("\n".join(notes))
        est = (f" · about {duration(message.model_steps * self.seconds_per_step)} "
               "(from this database's past runs)" if self.seconds_per_step else "")
        summary.update(f"[green]✓[/] [b]{message.models:,}[/b] models "
                       f"({fm.breakdown(message.raw)}), {message.model_steps:,} model-steps"
                       f"{est}{fm.control_note(message.raw, self.control)} · ctrl+r queues "
                       "it")

    # -- events -----------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if self._values.get(event.input) == event.value:
            return  # a field's value as given (posted on mounting): the form is checked
        self._values[event.input] = event.value
        if event.input.has_class("variant"):
            self.mark_overridden()
        if event.input.id != "prompt-input":
            self.validate()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value != self.preset:
            self.preset = str(event.value)
            self.load_preset()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "control":
            self.control = event.value
            if self.checked is not None:
                self.on_checked(self.checked)  # the summary says it
            return
        self.quick = event.value
        self.load_preset()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "queue":
            self.action_queue()

    def text_fields(self) -> list[Input]:
        """The form's text boxes in order, for ↑ ↓."""
        return [self.query_one("#name", Input), *self.inputs.values(), *self.variant_inputs]

    def on_key(self, event) -> None:
        fields = self.text_fields()
        if event.key in ("up", "down") and self.focused in fields:
            i = fields.index(self.focused) + (1 if event.key == "down" else -1)
            if 0 <= i < len(fields):
                fields[i].focus()
            event.stop()
            event.prevent_default()  # not the form's scrolling: the focus scrolls it

    def action_clear_field(self) -> None:
        if isinstance(self.focused, Input):
            self.focused.value = ""

    def action_add_variant(self) -> None:
        inp = Input("model.n_experts = 2", classes="field variant")
        self.variant_inputs.append(inp)
        self.query_one("#variant-box", Vertical).mount(inp)
        self.call_after_refresh(inp.focus)
        self.mark_overridden()
        self.validate()

    def action_queue(self) -> None:
        if self.valid_raw is None:
            problems = bool(self.checked and self.checked.raw is None)
            self.notify("the form has problems; see the red lines" if problems else
                        "still checking the form; try again in a moment",
                        severity="error" if problems else "warning")
            return
        name = self.query_one("#name", Input).value.strip() or None
        raw, preset, quick, control = self.valid_raw, self.preset, self.quick, self.control
        past = (self.checked.model_steps * self.seconds_per_step
                if self.seconds_per_step and self.checked is not None else None)
        # The engine's estimate, as `moelab run` prints it, in a thread: over a day asks first;
        # a control that cannot be made (the config sweeps the seed) queues nothing.
        copies = 2 if control else 1
        fetch(self, "size", lambda: (fm.size_of(raw, name or preset, past, copies),
                                     (preset, quick, raw, name, fm.control_of(
                                         raw, name or preset) if control else None)))

    def on_fetched(self, message: Fetched) -> None:
        if message.key == "seconds_per_step":
            self.seconds_per_step = message.value
            if self.checked is not None:
                self.on_checked(self.checked)
        elif message.key == "size":
            self.on_size(message)

    def on_size(self, message: Fetched) -> None:
        if message.error:  # more than this machine holds, or over a year: not queued
            self.notify(message.error, severity="error", timeout=10)
            return
        question, args = message.value
        if question is None:
            self.submit(*args)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.submit(*args)
            else:
                self.notify("not queued", timeout=3)
        self.app.push_screen(AskButtons(question, yes="Queue", no="Cancel"), answer)

    def submit(self, preset: str, quick: bool, raw: dict, name: str | None,
               control: dict | None) -> None:
        submit_preset(self.app, preset, quick, raw, name, control)
        # A name names one experiment: the next one queued from here gets its own.
        self.query_one("#name", Input).value = ""
