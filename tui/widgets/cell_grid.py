"""A grid of coloured cells with labelled axes and a cursor; the phase diagram and the
Gram heatmap are both one. Large grids use half blocks (two cells stacked in one character,
so a cell is square); small ones use two full characters per cell, square too, and bigger."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..colours import CURSOR

MISSING = "#3a3a3a"  # a cell with no run
FULL_ROWS = 12  # up to this many rows, a cell is two characters on its own line


class CellGrid(Widget, can_focus=True):
    """colours[row][col], row 0 at the top; the cursor is (col, row)."""

    DEFAULT_CSS = """
    CellGrid { width: auto; height: auto; padding: 0 1; }
    CellGrid:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("enter", "choose", "open run", show=False),
    ]

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    @dataclass
    class Moved(Message):
        grid: CellGrid
        col: int
        row: int

    @dataclass
    class Chosen(Message):
        grid: CellGrid
        col: int
        row: int

    def __init__(self, title: str = "", **kwargs):
        super().__init__(**kwargs)
        self.title = title
        self.colours: list[list[str | None]] = []
        self.y_ticks: list[str] = []
        self.x_ticks: list[str] = []
        self.x_title = ""
        self.y_title = ""

    def set_data(self, colours, y_ticks, x_ticks, x_title="", y_title="") -> None:
        self.colours = colours
        self.y_ticks, self.x_ticks = list(y_ticks), list(x_ticks)
        self.x_title, self.y_title = x_title, y_title
        col, row = self.cursor
        self.cursor = (min(col, max(self.n_cols - 1, 0)), min(row, max(self.n_rows - 1, 0)))
        self.refresh(layout=True)

    @property
    def full(self) -> bool:
        return self.n_rows <= FULL_ROWS

    @property
    def cell_width(self) -> int:
        return 2 if self.full else 1

    @property
    def n_rows(self) -> int:
        return len(self.colours)

    @property
    def n_cols(self) -> int:
        return len(self.colours[0]) if self.colours else 0

    def _label_width(self) -> int:
        return max([len(t) for t in self.y_ticks] + [len(self.y_title), 1]) + 1

    def get_content_width(self, container: Size, viewport: Size) -> int:
        x_line = len(self.x_ticks[0]) + len(self.x_ticks[-1]) + 2 if self.x_ticks else 0
        return max(self._label_width() + self.n_cols * self.cell_width + 1, len(self.title),
                   self._label_width() + x_line, len(self.x_title) + self._label_width())

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + (self.n_rows if self.full else (self.n_rows + 1) // 2) + 2

    def render(self) -> Text:
        lw = self._label_width()
        text = Text()
        text.append(self.title + "\n", style="bold")
        col_c, row_c = self.cursor
        step = 1 if self.full else 2
        for top in range(0, self.n_rows, step):
            ticks = [t for t in self.y_ticks[top:top + step] if t]
            tick = ticks[0] if ticks else (self.y_title if top == 0 else "")
            text.append(tick.rjust(lw - 1) + " ", style="dim")
            for c in range(self.n_cols):
                upper = self._colour(c, top, col_c, row_c)
                if self.full:
                    text.append("  ", style=Style(bgcolor=upper))
                    continue
                lower = (self._colour(c, top + 1, col_c, row_c) if top + 1 < self.n_rows
                         else None)
                text.append("▀", style=Style(color=upper, bgcolor=lower))
            text.append("\n")
        if self.x_ticks:
            first, last = self.x_ticks[0], self.x_ticks[-1]
            gap = max(self.n_cols * self.cell_width - len(first) - len(last), 1)
            text.append(" " * lw + first + " " * gap + last + "\n", style="dim")
        text.append(" " * lw + self.x_title, style="dim")
        return text

    def _colour(self, c: int, r: int, col_c: int, row_c: int) -> str:
        if (c, r) == (col_c, row_c) and self.has_focus:
            return CURSOR
        return self.colours[r][c] or MISSING

    def watch_cursor(self, cursor: tuple[int, int]) -> None:
        self.post_message(self.Moved(self, *cursor))
        self.refresh()

    def action_move(self, dx: int, dy: int) -> None:
        if not self.colours:
            return
        col, row = self.cursor
        self.cursor = (max(0, min(self.n_cols - 1, col + dx)),
                       max(0, min(self.n_rows - 1, row + dy)))

    def action_choose(self) -> None:
        if self.colours:
            self.post_message(self.Chosen(self, *self.cursor))

    def on_click(self, event: Click) -> None:
        col = (event.x - self.styles.padding.left - self._label_width()) // self.cell_width
        row = (event.y - 1) * (1 if self.full else 2)
        if 0 <= col < self.n_cols and 0 <= row < self.n_rows:
            self.cursor = (col, row)
            if event.chain >= 2:
                self.action_choose()

    def on_focus(self) -> None:
        self.post_message(self.Moved(self, *self.cursor))
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
