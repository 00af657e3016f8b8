"""The key bar at the bottom of every view: the keys the focused widget and its screen
answer, one line; a click on a key presses it.

It stands in for Textual's Footer, which mounts one widget per key and restyles them all
each time the focus moves: 30–80 ms of the UI thread per view opened on 2 cores. Here the
line is one Static, redrawn only when its text changes.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Static


def keys_markup(active: dict, key_display) -> str:
    """active: Screen.active_bindings; key_display(binding) -> the key as shown."""
    parts = []
    seen = set()
    for node_binding in active.values():
        binding = node_binding.binding
        if not binding.show or (binding.action, binding.description) in seen:
            continue
        seen.add((binding.action, binding.description))
        # escape() leaves a lone "[" as is, and "[b][[/]" then shows as "[[/]"
        key = escape(key_display(binding)).replace("[", "\\[")
        label = f"[b $footer-key-foreground]{key}[/] {escape(binding.description)}"
        if not node_binding.enabled:
            label = f"[dim]{label}[/]"
        parts.append(f"[@click=app.simulate_key({binding.key!r})]{label}[/]")
    return "  ".join(parts)


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom; height: 1; width: 1fr;
        background: $footer-background; color: $footer-foreground;
    }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self._shown: str | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.refresh_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh_keys()

    def refresh_keys(self) -> None:
        app = self.app
        text = keys_markup(self.screen.active_bindings, app.get_key_display)
        if app.ENABLE_COMMAND_PALETTE:
            key = escape(app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "")))
            text += (f"  [@click=app.command_palette][b $footer-key-foreground]{key}[/] "
                     "palette[/]")
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
