"""A plotext plot drawn once per figure and size.

Textual asks a widget to render on every refresh (mount, layout, style and focus changes),
and PlotextPlot builds its figure anew each time: 10-80 ms a build here, two or three builds
a view while it opens, the first of them an empty figure before the data came. This one is
blank until its first figure and keeps the last build while figure, size and theme stay.
Its ANSI text is decoded by one split on the SGR codes that plotext writes (rich's general
decoder took as long as plotext's own build).
"""

from __future__ import annotations

import re

from rich.ansi import AnsiDecoder
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_STYLES: dict[tuple[str, ...], Style | None] = {}


class Plot(PlotextPlot):
    """Change the figure through `plt`, then call `replot()` (not `refresh()`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._figure = 0  # bumped by replot(); 0: nothing to draw yet
        self._drawn: tuple[tuple, RenderResult] | None = None

    def replot(self) -> None:
        """Draw the figure as `plt` now describes it."""
        self._figure += 1
        self.refresh()

    def render(self) -> RenderResult:
        if not self._figure:
            return ""
        key = (self._figure, self.size.width, self.size.height, self.theme, self.app.theme)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, self._build())
        return self._drawn[1]

    def _build(self) -> Text:
        """PlotextPlot.render with from_ansi for rich's Text.from_ansi."""
        plt = self._plot
        plt.plotsize(self.size.width, self.size.height)
        plt._set_size(self.size.width, self.size.height)  # as PlotextPlot.render does
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        return from_ansi(plt.build())


def from_ansi(ansi: str) -> Text:
    """Text.from_ansi for text whose only escapes are SGR codes (plotext's): the same
    characters in the same styles."""
    parts = _SGR.split(ansi)  # text, codes, text, codes, …, text
    if "\r" in ansi or ansi.count("\x1b") != len(parts) // 2:
        return Text.from_ansi(ansi)
    text = Text(end="\n", tab_size=8)
    state: tuple[str, ...] = ()  # the codes since the last reset
    for i, part in enumerate(parts):
        if i % 2:
            state = () if part in ("0", "") else (*state, part)
        elif part:
            style = _style(state)
            lines = part.split("\n")
            for j, line in enumerate(lines):
                if j:
                    text.append("\n")  # unstyled, as rich's line joiner
                if line:
                    text.append(line, style)
    return text


def _style(state: tuple[str, ...]) -> Style | None:
    """The style rich's decoder holds after these codes (from a reset), None for none."""
    if state not in _STYLES:
        decoder = AnsiDecoder()
        decoder.decode_line("".join(f"\x1b[{codes}m" for codes in state))
        _STYLES[state] = decoder.style or None
    return _STYLES[state]
