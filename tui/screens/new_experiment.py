"""New experiment: a preset's fields as a form, validated as you type, then queued.

Validation is the engine's own (engine.config / engine.presets are pure Python), so the
messages are exactly those of `moelab run`.
"""

from __future__ import annotations

import json

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static, Switch

from ..fetch import Fetched, fetch
from ..format import duration
from ..messages import DataChanged
from .base import LabScreen

DEFAULT_PRESET = "fig4"


def preset_names() -> list[str]:
    from moelab.engine.presets import PRESETS
    return list(PRESETS)


def field_values(raw: dict) -> dict[str, str]:
    """Every config field as section.field -> TOML text, the preset's values over defaults."""
    import dataclasses

    from moelab.engine.config import Config
    cfg = Config()
    out = {}
    for section in ("model", "data", "train"):
        given = raw.get(section, {})
        for f in dataclasses.fields(getattr(cfg, section)):
            value = given.get(f.name, getattr(getattr(cfg, section), f.name))
            out[f"{section}.{f.name}"] = toml_text(value)
    for key, values in raw.get("sweep", {}).items():
        if key != "variants":
            out[f"sweep.{key}"] = toml_text(values)
    return out


def toml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + " }"
    return str(value)


def raw_from_form(base: dict, edits: dict[str, str]) -> dict:
    """The preset's raw dict with the edited fields parsed as TOML (as --set does)."""
    from moelab.engine.config import ConfigError, parse_value
    raw = json.loads(json.dumps(base))
    problems = []
    for key, text in edits.items():
        section, field = key.split(".", 1)
        try:
            value = parse_value(text)
        except ConfigError as err:
            problems.append(f"{key}: {err}")
            continue
        raw.setdefault(section, {})[field] = value
    if problems:
        raise ConfigError(problems)
    return raw


def check(raw: dict, name: str) -> tuple[int, int]:
    """(models, model-steps) of a raw config; raises ConfigError with the CLI's messages."""
    from moelab.engine.config import from_dict
    from moelab.engine.sweep import expand
    runs = expand(from_dict(raw, name=name))
    return len(runs), sum(r.train.steps for r in runs)


def submit_preset(app, preset: str, quick: bool, raw: dict | None = None,
                  name: str | None = None) -> None:
    from moelab.engine.presets import get
    raw = raw if raw is not None else get(preset).raw(quick)
    name = name or (preset + (" --quick" if quick else ""))

    def work():
        return app.lab.call("submit", raw, preset=preset, quick=quick, name=name)
    fetch(app, "submitted", work, exclusive=False)


class NewExperimentScreen(LabScreen):
    BINDINGS = [Binding("ctrl+r", "queue", "queue it")]

    def __init__(self):
        super().__init__()
        self.preset = DEFAULT_PRESET
        self.quick = True
        self.base: dict = {}
        self.initial: dict[str, str] = {}
        self.seconds_per_step: float | None = None
        self.valid_raw: dict | None = None
        self.inputs: dict[str, Input] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="new-top"):
            yield Select([(p, p) for p in preset_names()], value=self.preset,
                         allow_blank=False, id="preset")
            yield Label(" quick ")
            yield Switch(value=self.quick, id="quick")
            yield Input(placeholder="name (default: the preset's)", id="name")
            yield Button("Queue", id="queue", variant="primary")
        yield Static("", id="summary")
        yield Static("", id="problems")
        yield VerticalScroll(id="form")
        yield Footer()

    def on_mount(self) -> None:
        fetch(self, "seconds_per_step", lambda: self.lab.read("seconds_per_step"))
        self.load_preset()

    def load_preset(self) -> None:
        from moelab.engine.presets import get
        self.base = get(self.preset).raw(self.quick)
        self.initial = field_values(self.base)
        form = self.query_one("#form", VerticalScroll)
        form.remove_children()
        # Mounting is asynchronous, so the form keeps its inputs itself.
        self.inputs = {key: Input(text, classes="field") for key, text in self.initial.items()}
        form.mount_all([Horizontal(Label(key, classes="field-name"), inp, classes="field-row")
                        for key, inp in self.inputs.items()])
        self.validate()

    def edits(self) -> dict[str, str]:
        return {key: inp.value.strip() for key, inp in self.inputs.items()
                if inp.value.strip() != self.initial.get(key)}

    def validate(self) -> None:
        from moelab.engine.config import ConfigError
        name = self.query_one("#name", Input).value.strip() or self.preset
        problems = self.query_one("#problems", Static)
        summary = self.query_one("#summary", Static)
        try:
            raw = raw_from_form(self.base, self.edits())
            models, model_steps = check(raw, name)
        except ConfigError as err:
            self.valid_raw = None
            problems.update("\n".join(f"[red]✗ {escape(p)}[/]" for p in err.problems))
            summary.update("[red]fix the fields below to queue this experiment[/]")
            return
        self.valid_raw = raw
        problems.update("")
        est = (f" · about {duration(model_steps * self.seconds_per_step)} "
               "(from this database's past runs)" if self.seconds_per_step else "")
        summary.update(f"[green]✓[/] [b]{models}[/b] models, {model_steps:,} model-steps"
                       f"{est} · ctrl+r queues it")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.validate()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and event.value != self.preset:
            self.preset = str(event.value)
            self.load_preset()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self.quick = event.value
        self.load_preset()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "queue":
            self.action_queue()

    def action_queue(self) -> None:
        self.validate()
        if self.valid_raw is None:
            self.notify("the form has problems; see the red lines", severity="error")
            return
        name = self.query_one("#name", Input).value.strip() or None
        submit_preset(self.app, self.preset, self.quick, self.valid_raw, name)

    def on_fetched(self, message: Fetched) -> None:
        if message.key == "seconds_per_step":
            self.seconds_per_step = message.value
            self.validate()


def on_submitted(app, message: Fetched) -> None:
    if message.error:
        app.notify(message.error, severity="error", timeout=8)
    else:
        app.notify(f"queued experiment {message.value}; it shows in Runs (1)")
        app.current_experiment = message.value
        app.poll_status()
        app.screen.post_message(DataChanged(message.value))
