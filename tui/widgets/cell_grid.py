"""A grid of coloured cells with labelled axes and a cursor; the phase diagram and the Gram
heatmap are both one.

Cells are square and as big as the owner allows (`level`): level 0 stacks two cells in one
character (half blocks), level k draws a cell 2k characters wide and k lines high, so a
small grid uses the space it has. The cursor never hides its cell's colour: it is marked on
both axes (▶ and ▲), and from level 1 on by a frame drawn over the cell's own colour.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

MISSING = "#3a3a3a"  # a cell with no run
MAX_LEVEL = 4
_STYLES: dict[tuple, Style] = {}
_COLOURS: dict[str, Color] = {}


def style(fg: str | None, bg: str | None, bold: bool = False) -> Style:
    key = (fg, bg, bold)
    found = _STYLES.get(key)
    if found is None:  # each colour parsed once (a 50 × 50 grid has ~1,000 pairs)
        found = _STYLES[key] = (Style(color=fg, bgcolor=bg, bold=True) if bold else
                                Style.from_color(_colour(fg), _colour(bg)))
    return found


def _colour(name: str | None) -> Color | None:
    """Color.parse(name), for "#rrggbb" built directly (a phase grid has thousands of
    colours, each new one made while drawing a frame: the regex and NamedTuple keywords were
    most of a grid's first frame)."""
    if name is None:
        return None
    found = _COLOURS.get(name)
    if found is None:
        if len(name) == 7 and name[0] == "#":
            code = int(name[1:], 16)
            found = tuple.__new__(Color, (name.lower(), ColorType.TRUECOLOR, None, tuple.__new__(
                ColorTriplet, (code >> 16, (code >> 8) & 255, code & 255))))
        else:
            found = Color.parse(name)
        _COLOURS[name] = found
    return found


def contrast(colour: str) -> str:
    """Black on light colours, white on dark ones."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def fit_level(n_cols: int, n_rows: int, width: int, height: int | None = None,
              label_width: int = 6, per_row: int = 1, most: int = MAX_LEVEL,
              min_width: int = 0) -> int:
    """The largest cell size (up to `most`) at which `per_row` grids fit side by side in
    width (and one grid in height, when given); min_width: a grid's least width (its title
    or caption)."""
    best = 0
    for level in range(1, most + 1):
        grid_w = max(label_width + n_cols * 2 * level + 3, min_width)
        grid_h = n_rows * level + 4
        if grid_w * per_row > width or (height is not None and grid_h > height):
            break
        best = level
    return best


class CellGrid(Widget, can_focus=True):
    """colours[row][col], row 0 at the top; the cursor is (col, row)."""

    DEFAULT_CSS = """
    CellGrid { width: auto; height: auto; padding: 0; }
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
    level: reactive[int] = reactive(1, layout=True)

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
        self.caption = ""
        self.colours: list[list[str | None]] = []
        self.y_ticks: list[str] = []  # one per row ("" for none)
        self.x_ticks: list[str] = []  # one per column ("" for none)
        self.x_title = ""
        self.y_title = ""
        self.marked: set[tuple[int, int]] = set()
        self.flagged: set[tuple[int, int]] = set()  # cells drawn with flag_char (level >= 1)
        self.flag_char = "?"
        self._lines: list[list[Segment]] | None = None

    def set_data(self, colours, y_ticks, x_ticks, x_title="", y_title="",
                 caption: str = "") -> None:
        self.colours = colours
        self.y_ticks, self.x_ticks = list(y_ticks), list(x_ticks)
        self.x_title, self.y_title, self.caption = x_title, y_title, caption
        col, row = self.cursor
        self.cursor = (min(col, max(self.n_cols - 1, 0)), min(row, max(self.n_rows - 1, 0)))
        self._lines = None
        self.refresh(layout=True)

    def watch_level(self) -> None:
        self._lines = None

    @property
    def n_rows(self) -> int:
        return len(self.colours)

    @property
    def n_cols(self) -> int:
        return len(self.colours[0]) if self.colours else 0

    @property
    def cell_width(self) -> int:
        return 2 * self.level if self.level else 1

    @property
    def cell_height(self) -> float:
        return self.level if self.level else 0.5

    def _label_width(self) -> int:
        return max([len(t) for t in self.y_ticks] + [len(self.y_title), 1]) + 2

    def _body_lines(self) -> int:
        return self.n_rows * self.level if self.level else (self.n_rows + 1) // 2

    def get_content_width(self, container: Size, viewport: Size) -> int:
        lw = self._label_width() + 1
        return max(lw + self.n_cols * self.cell_width + 2, len(self.title) + 2,
                   lw + len(self.x_title) + 1, len(self.caption) + 2,
                   lw + len(self._ticks_line()) + 1)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + self._body_lines() + 3 + (1 if self.caption else 0)

    # -- drawing ---------------------------------------------------------------------------
    # Lines are built once per change as rich Segments and drawn with the line API: a 50 × 50
    # grid is 1,250 segments, which Text → Content conversion made slow to draw.
    def _invalidate(self) -> None:
        self._lines = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        lines = self._built()
        width = self.size.width
        if y >= len(lines):
            return Strip.blank(width, self.rich_style)
        return Strip(lines[y]).crop_extend(0, width, self.rich_style)

    def as_text(self) -> Text:
        """What the grid draws, as rich Text (for snapshots and tests)."""
        text = Text()
        for i, line in enumerate(self._built()):
            if i:
                text.append("\n")
            for seg in line:
                text.append(seg.text, seg.style)
        return text

    def _built(self) -> list[list[Segment]]:
        if self._lines is None:
            self._lines = self._build()
        return self._lines

    def _build(self) -> list[list[Segment]]:
        base = self.rich_style
        dim = base + Style(dim=True)
        bold = base + Style(bold=True)
        lw = self._label_width()
        lines: list[list[Segment]] = [[Segment(" " + self.title, bold)]]
        col_c, row_c = self.cursor
        focus = self.has_focus
        if self.level:
            mid = (self.level - 1) // 2
            special: dict[int, set[int]] = {}  # row -> columns drawn apart from their colour
            for c, r in (*self.flagged, *self.marked, *([(col_c, row_c)] if focus else [])):
                special.setdefault(r, set()).add(c)
            blank, plains = " " * self.cell_width, {}  # a plain cell: one segment a colour

            def plain_cell(colour: str | None) -> Segment:
                colour = colour or MISSING
                if colour not in plains:
                    plains[colour] = Segment(blank, style(None, colour))
                return plains[colour]
            for r in range(self.n_rows):
                # a row's plain cells are the same segments on each of its lines
                odd = special.get(r, ())
                plain = [None if c in odd else plain_cell(colour)
                         for c, colour in enumerate(self.colours[r])]
                for line in range(self.level):
                    marker = "▶" if focus and r == row_c and line == mid else " "
                    tick = self.y_ticks[r] if line == mid and r < len(self.y_ticks) else ""
                    if r == 0 and line == 0 and not (self.y_ticks[:1] and self.y_ticks[0]):
                        tick = self.y_title
                    cells = plain if not odd else [
                        seg or self._cell(c, r, line, (c, r) == (col_c, row_c) and focus)
                        for c, seg in enumerate(plain)]
                    lines.append([Segment(" " + tick.rjust(lw - 2) + marker + " ", dim),
                                  *cells])
        else:
            for top in range(0, self.n_rows, 2):
                ticks = [t for t in self.y_ticks[top:top + 2] if t]
                tick = ticks[0] if ticks else (self.y_title if top == 0 else "")
                marker = "▶" if focus and row_c in (top, top + 1) else " "
                segs = [Segment(" " + tick.rjust(lw - 2) + marker + " ", dim)]
                upper_row = self.colours[top]
                lower_row = self.colours[top + 1] if top + 1 < self.n_rows else None
                for c in range(self.n_cols):
                    upper = upper_row[c] or MISSING
                    lower = (lower_row[c] or MISSING) if lower_row is not None else None
                    segs.append(Segment("▀", style(upper, lower)))
                lines.append(segs)
        pad = " " * (lw + 1)
        lines.append([Segment(pad + self._axis_line(col_c if focus else None), dim)])
        lines.append([Segment(pad + self._ticks_line(), dim)])
        lines.append([Segment(pad + self.x_title, dim)])
        if self.caption:
            lines.append([Segment(" " + self.caption, dim)])
        return lines

    def _cell(self, c: int, r: int, line: int, cursor: bool) -> Segment:
        """One line of a cell drawn apart from its colour: under the cursor, marked or
        flagged (_build draws the plain ones)."""
        colour = self.colours[r][c] or MISSING
        w = self.cell_width
        flag = self.flag_char if (c, r) in self.flagged else ""
        fg = contrast(colour)
        if not cursor:  # a run marked for comparison and / or a flagged cell
            mark = "●" if (c, r) in self.marked else ""
            body = (mark + flag).center(w) if line == (self.level - 1) // 2 else " " * w
        elif flag and self.level >= 3 and line == (self.level - 1) // 2:
            body = "│" + flag.center(w - 2) + "│"
        elif self.level == 1:
            body = "[]"
        elif line == 0:
            body = "┌" + "─" * (w - 2) + "┐"
        elif line == self.level - 1:
            body = "└" + "─" * (w - 2) + "┘"
        else:
            body = "│" + " " * (w - 2) + "│"
        return Segment(body, style(fg, colour, bold=True))

    def _axis_line(self, cursor_col: int | None) -> str:
        line = [" "] * (self.n_cols * self.cell_width)
        if cursor_col is not None and cursor_col < self.n_cols:
            line[cursor_col * self.cell_width + (self.cell_width - 1) // 2] = "▲"
        return "".join(line)

    def _ticks_line(self) -> str:
        """Labelled columns, each label starting under its column, none overlapping."""
        width = self.n_cols * self.cell_width
        line = [" "] * (width + 8)
        free_from = 0
        for c, label in enumerate(self.x_ticks):
            if not label:
                continue
            at = c * self.cell_width
            last = c == len(self.x_ticks) - 1
            if last:  # ends under the last column, or follows the label before it
                at = max(at + self.cell_width - len(label), free_from)
            if at < free_from:
                continue
            line[at:at + len(label)] = label
            free_from = at + len(label) + 1
        return "".join(line).rstrip()

    # -- cursor ----------------------------------------------------------------------------
    def watch_cursor(self, cursor: tuple[int, int]) -> None:
        self.post_message(self.Moved(self, *cursor))
        self._invalidate()

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
        col = (event.x - 1 - self._label_width()) // self.cell_width
        row = int((event.y - 1) // self.cell_height)
        if 0 <= col < self.n_cols and 0 <= row < self.n_rows:
            self.cursor = (col, row)
            if event.chain >= 2:
                self.action_choose()

    def on_focus(self) -> None:
        self.post_message(self.Moved(self, *self.cursor))
        self._invalidate()

    def on_blur(self) -> None:
        self._invalidate()
