"""Modal lists: choose and order the Runs table's columns; pick a saved view or query."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def column_choices(choices: dict) -> list[str]:
    """Every column a runs table can show, in the chooser's order."""
    metrics = [f"{agg}({m})" for m in choices.get("metrics", []) for agg in
               ("min", "max", "last")]
    return list(choices.get("view", [])) + list(choices.get("config", [])) + metrics


class ColumnChooser(ModalScreen[list[str] | None]):
    """space shows/hides the highlighted column, ctrl+↑/↓ (or K/J) moves it, Enter applies,
    Esc cancels. Shown columns come first, in their order."""

    BINDINGS = [
        Binding("space", "toggle", "show/hide"),
        Binding("ctrl+up,K", "move(-1)", "move up"),
        Binding("ctrl+down,J", "move(1)", "move down"),
        Binding("enter", "apply", "apply", priority=True),
        Binding("escape", "dismiss(None)", "cancel"),
    ]

    def __init__(self, shown: list[str], available: list[str]):
        super().__init__()
        self.shown = list(shown)
        self.hidden = [c for c in available if c not in shown]

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser"):
            yield Static("[b]Columns[/b]  space show/hide · ctrl+↑↓ or K/J move · Enter "
                         "apply · Esc cancel\n[dim]config fields as section.field; min/max/"
                         "last of each logged metric[/]")
            yield OptionList(id="columns")

    def on_mount(self) -> None:
        self.redraw(0)
        self.query_one(OptionList).focus()

    def order(self) -> list[str]:
        return self.shown + self.hidden

    def redraw(self, highlight: int) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(("[b]✓[/b] " if c in self.shown else "  ") + escape(c))
                             for c in self.order()])
        options.highlighted = max(0, min(highlight, len(self.order()) - 1))

    def _at(self) -> tuple[int, str] | None:
        i = self.query_one(OptionList).highlighted
        return None if i is None else (i, self.order()[i])

    def action_toggle(self) -> None:
        at = self._at()
        if at is None:
            return
        i, name = at
        if name in self.shown:
            self.shown.remove(name)
            self.hidden.insert(0, name)
            i = len(self.shown)
        else:
            self.hidden.remove(name)
            self.shown.append(name)
            i = len(self.shown) - 1
        self.redraw(i)

    def action_move(self, delta: int) -> None:
        at = self._at()
        if at is None or at[1] not in self.shown:
            return
        i, name = at
        j = max(0, min(len(self.shown) - 1, i + delta))
        self.shown.insert(j, self.shown.pop(i))
        self.redraw(j)

    def action_apply(self) -> None:
        if not self.shown:
            self.notify("show at least one column", severity="warning")
            return
        self.dismiss(self.shown)


class NamePicker(ModalScreen[str | None]):
    """A list of saved things by name: Enter picks, d deletes, Esc closes."""

    BINDINGS = [
        Binding("enter", "pick", "open", priority=True),
        Binding("d", "delete", "delete"),
        Binding("escape", "dismiss(None)", "close"),
    ]

    def __init__(self, title: str, items: dict, describe, on_delete):
        super().__init__()
        self.title_text = title
        self.items = dict(items)
        self.describe = describe
        self.on_delete = on_delete

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser"):
            yield Static(f"[b]{escape(self.title_text)}[/b]  Enter opens · d deletes · Esc "
                         "closes")
            yield OptionList(id="names")

    def on_mount(self) -> None:
        self.redraw()
        self.query_one(OptionList).focus()

    def redraw(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        if not self.items:
            options.add_option(Option("[dim](none saved yet: ctrl+s saves)[/]", disabled=True))
            return
        options.add_options([Option(f"[b]{escape(n)}[/b]  [dim]{escape(self.describe(v))}[/]",
                                    id=n) for n, v in sorted(self.items.items())])
        options.highlighted = 0

    def _picked(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None or not self.items:
            return None
        return options.get_option_at_index(options.highlighted).id

    def action_pick(self) -> None:
        name = self._picked()
        if name is not None:
            self.dismiss(name)

    def action_delete(self) -> None:
        name = self._picked()
        if name is not None:
            self.on_delete(name)
            self.items.pop(name, None)
            self.redraw()
