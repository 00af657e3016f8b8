"""A table that shows a result of any length by asking for pages as they scroll into view.

Only visible lines are drawn (Textual's line API) and only the pages that were looked at
are held, so 100,000 rows scroll as smoothly as 100. The owner answers `PageWanted`
(usually from a worker) with `set_page`. When the rows have a run_id, a gutter shows ● on
the runs marked for comparison (`marks`, kept by the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

MAX_WIDTH = 24


def format_value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, bool):
        return "✓" if value else "·"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value[:4]) + (", …]" if len(value) > 4
                                                                       else "]")
    return str(value).replace("\n", " ")


class VirtualTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor",
                         "virtual-table--cursor-cell", "virtual-table--mark"}
    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $primary 30%; }
    VirtualTable > .virtual-table--cursor { background: $accent 40%; }
    VirtualTable > .virtual-table--cursor-cell { background: $accent; text-style: bold; }
    VirtualTable > .virtual-table--mark { color: $warning; text-style: bold; }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("left", "column(-1)", "left", show=False),
        Binding("right", "column(1)", "right", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
        Binding("enter", "choose", "open", show=False),
        Binding("s", "sort", "sort by column"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True)
    cursor_col: reactive[int] = reactive(0)

    @dataclass
    class PageWanted(Message):
        table: VirtualTable
        page: int

    @dataclass
    class RowChosen(Message):
        table: VirtualTable
        index: int
        row: list

    @dataclass
    class SortWanted(Message):
        table: VirtualTable
        column: str

    def __init__(self, page_size: int = 200, **kwargs):
        super().__init__(**kwargs)
        self.page_size = page_size
        self.columns: list[str] = []
        self.total = 0
        self.widths: list[int] = []
        self.sort_column: str | None = None
        self.sort_descending = False
        self._pages: dict[int, list[list]] = {}
        self._asked: set[int] = set()
        self.marks: set[int] = set()
        self.mark_column = "run_id"

    # -- data ------------------------------------------------------------------------------
    def reset(self, columns: list[str], total: int, first_page: list[list]) -> None:
        self.columns = list(columns)
        self.total = int(total)
        self._pages = {0: first_page}
        self._asked = {0}
        self.widths = [min(MAX_WIDTH, max([len(c) + 1] + [len(format_value(r[i]))
                                                           for r in first_page[:200]]))
                       for i, c in enumerate(self.columns)]
        self.virtual_size = Size(self.mark_width + sum(w + 1 for w in self.widths),
                                 self.total + 1)
        self.cursor_col = min(self.cursor_col, max(len(self.columns) - 1, 0))
        self.cursor_row = 0
        self.scroll_to(y=0, animate=False)
        self.refresh()

    def set_page(self, page: int, rows: list[list]) -> None:
        self._pages[page] = rows
        self.refresh()

    def row(self, index: int) -> list | None:
        page = self._pages.get(index // self.page_size)
        if page is None:
            return None
        i = index % self.page_size
        return page[i] if i < len(page) else None

    @property
    def cursor_value(self) -> list | None:
        return self.row(self.cursor_row) if self.total else None

    @property
    def mark_width(self) -> int:
        return 2 if self.mark_column in self.columns else 0

    def run_id_of(self, row: list | None) -> int | None:
        if row is None or self.mark_column not in self.columns:
            return None
        return row[self.columns.index(self.mark_column)]

    def set_marks(self, marks: set[int]) -> None:
        self.marks = set(marks)
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            return self._strip(self._header_cells(),
                               self.get_component_rich_style("virtual-table--header"),
                               scroll_x, width, None, "  " if self.mark_width else "")
        index = scroll_y + y - 1
        if index >= self.total:
            return Strip.blank(width, self.rich_style)
        row = self.row(index)
        if row is None:
            self._want(index // self.page_size)
            cells = ["…"] + [""] * (len(self.columns) - 1)
        else:
            cells = [format_value(v) for v in row]
        cursor = index == self.cursor_row and self.has_focus
        base = (self.get_component_rich_style("virtual-table--cursor") if cursor
                else self.rich_style)
        hot = self.get_component_rich_style("virtual-table--cursor-cell") if cursor else None
        mark = ""
        if self.mark_width:
            mark = "● " if self.run_id_of(row) in self.marks else "  "
        return self._strip(cells, base, scroll_x, width, hot, mark)

    def _header_cells(self) -> list[str]:
        marks = []
        for c in self.columns:
            if c == self.sort_column:
                c += "▼" if self.sort_descending else "▲"
            marks.append(c)
        return marks

    def _strip(self, cells: list[str], style: Style, scroll_x: int, width: int,
               hot: Style | None, gutter: str = "") -> Strip:
        segments = []
        if gutter:
            segments.append(Segment(gutter, style + self.get_component_rich_style(
                "virtual-table--mark", partial=True)))
        for i, (text, w) in enumerate(zip(cells, self.widths, strict=False)):
            text = text if len(text) <= w else text[:w - 1] + "…"
            cell_style = hot if (hot is not None and i == self.cursor_col) else style
            segments.append(Segment(text.ljust(w), cell_style))
            segments.append(Segment(" ", style))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, style)

    def _want(self, page: int) -> None:
        if page not in self._asked:
            self._asked.add(page)
            self.post_message(self.PageWanted(self, page))

    # -- cursor ----------------------------------------------------------------------------
    def watch_cursor_row(self, row: int) -> None:
        visible = max(self.size.height - 1, 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False)
        elif row >= self.scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False)
        self.refresh()

    def watch_cursor_col(self, col: int) -> None:
        left = self.mark_width + sum(w + 1 for w in self.widths[:col])
        right = left + (self.widths[col] if col < len(self.widths) else 0)
        if left < self.scroll_x:
            self.scroll_to(x=left, animate=False)
        elif right > self.scroll_x + self.size.width:
            self.scroll_to(x=right - self.size.width + 1, animate=False)
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.total:
            self.cursor_row = max(0, min(self.total - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(self.size.height - 2, 1))

    def action_jump(self, where: int) -> None:
        if self.total:
            self.cursor_row = 0 if where == 0 else self.total - 1

    def action_column(self, delta: int) -> None:
        if self.columns:
            self.cursor_col = max(0, min(len(self.columns) - 1, self.cursor_col + delta))

    def action_choose(self) -> None:
        row = self.cursor_value
        if row is not None:
            self.post_message(self.RowChosen(self, self.cursor_row, row))

    def action_sort(self) -> None:
        if self.columns:
            self.post_message(self.SortWanted(self, self.columns[self.cursor_col]))

    def _column_at(self, x: int) -> int | None:
        left = self.mark_width
        for i, w in enumerate(self.widths):
            if left <= x < left + w + 1:
                return i
            left += w + 1
        return None

    def on_click(self, event: Click) -> None:
        col = self._column_at(event.x + int(self.scroll_x))
        if col is not None:
            self.cursor_col = col
        if event.y == 0:
            self.action_sort()
        elif self.total:
            index = int(self.scroll_y) + event.y - 1
            if 0 <= index < self.total:
                if index == self.cursor_row and event.chain >= 2:
                    self.action_choose()
                self.cursor_row = index

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
