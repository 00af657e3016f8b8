"""Small modal questions: yes/no before anything irreversible, and one line of text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class Confirm(ModalScreen[bool]):
    """y / Enter answers yes; n / Esc / q answers no."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "yes"),
        Binding("n,escape,q", "answer(False)", "no"),
    ]

    def __init__(self, question: str, yes: str = "yes"):
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question, id="confirm-question")
            yield Static(f"[b]y[/b] {self.yes}    [b]n[/b] / Esc: keep it", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AskButtons(ModalScreen[bool]):
    """A question with two buttons (`yes` / `no`); y answers yes, n / Esc / q no. The `no`
    button has the focus, so Enter alone keeps the safe answer, as the CLI's [y/N]."""

    DEFAULT_CSS = """
    AskButtons { align: center middle; }
    AskButtons #ask-buttons { height: auto; margin-top: 1; }
    AskButtons Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape,q", "answer(False)", "no"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel"):
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="ask-buttons"):
                yield Button(f"{self.yes} (y)", id="ask-yes", variant="warning")
                yield Button(f"{self.no} (n)", id="ask-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ask-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "ask-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextPrompt(ModalScreen[str | None]):
    """One line of text; Enter answers it, Esc cancels (None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "",
                 note: str = ""):
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question, id="prompt-question")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            if self.note:
                yield Static(self.note, id="prompt-note")

    def on_mount(self) -> None:
        box = self.query_one("#prompt-input", Input)
        box.focus()
        box.cursor_position = len(box.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)
