"""What every view shares: header, footer, and the lab handle."""

from __future__ import annotations

from textual.screen import Screen


class LabScreen(Screen):
    # The figure a view exports (see tui/export.py): (kind, experiment_id, options) or None.
    def figure_request(self) -> tuple[str, int, dict] | None:
        return None

    @property
    def lab(self):
        return self.app.lab
