"""The SQL console's editor: a TextArea whose highlighting and wrapping stay off for large
queries, so that a keystroke costs about the same in a 200 KB query as in a short one.

Tree-sitter re-parses the whole query on every keystroke: about 3.5 ms per KB of SQL on the
2-core box and far worse for deep nesting (200 KB of nested parentheses took minutes to
paste). Above HIGHLIGHT_MAX characters the editor holds plain text, decided before each edit
so that a large paste is never parsed; it highlights again once the query is small again.
Soft wrapping re-wraps the edited line and splits it again at each frame (about 100 ms per
key in a 200 KB line), so above WRAP_MAX long lines scroll sideways instead. What is left
grows with the text (about 25 ms a key at 200 KB, 150 ms at 2 MB), so a paste that would
make the query longer than TEXT_MAX is refused with a notice.
"""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult

HIGHLIGHT_MAX = 10_000  # characters; ~35 ms a keystroke when highlighted
HIGHLIGHT_AGAIN = 8_000  # below this, highlight again (no switching back and forth at the edge)
WRAP_MAX = 50_000
WRAP_AGAIN = 40_000
TEXT_MAX = 1_000_000  # ten times what the lab runs by default (MOELAB_SQL_MAX_CHARS)


class SqlEditor(TextArea):
    def __init__(self, text: str = "", *, grammar: str | None = None, soft_wrap: bool = True,
                 **kwargs):
        self.grammar = grammar  # the language to highlight with when the query is small
        self.wrapping = soft_wrap  # whether to wrap when the query is small
        super().__init__(text, language=grammar if len(text) <= HIGHLIGHT_MAX else None,
                         soft_wrap=soft_wrap and len(text) <= WRAP_MAX, **kwargs)

    @property
    def size_limited(self) -> bool:
        """Highlighting is off because the query is large."""
        return self.grammar is not None and self.language is None

    def _set_language(self, language: str | None) -> None:
        if language != self.language:
            selection = self.selection  # a new document puts the cursor at the start
            self.language = language
            self.selection = selection

    def _fit(self, size: int) -> None:
        if size > HIGHLIGHT_MAX:
            self._set_language(None)
        elif size <= HIGHLIGHT_AGAIN:
            self._set_language(self.grammar)
        if size > WRAP_MAX:
            self.soft_wrap = False
        elif size <= WRAP_AGAIN:
            self.soft_wrap = self.wrapping

    def _before(self, size: int) -> None:
        """Before a change to a text of at most size characters: never parse or wrap it
        when it will be large."""
        if size > HIGHLIGHT_MAX:
            self._set_language(None)
        if size > WRAP_MAX:
            self.soft_wrap = False

    async def _on_paste(self, event: events.Paste) -> None:
        start, end = sorted(self.selection)
        size = (len(self.document.text) - len(self.document.get_text_range(start, end))
                + len(event.text))
        if size > TEXT_MAX:
            event.prevent_default()  # TextArea's own paste does not run
            self.notify(f"not pasted: the query would be {size:,} characters; the editor "
                        f"holds {TEXT_MAX:,}", severity="warning")

    def edit(self, edit: Edit) -> EditResult:
        self._before(len(self.document.text) + len(edit.text))
        result = super().edit(edit)
        self._fit(len(self.document.text))
        return result

    def load_text(self, text: str) -> None:
        self._before(len(text))
        super().load_text(text)
        self._fit(len(text))

    # An undo or redo may bring a large text back: do it unhighlighted, then decide.
    def undo(self) -> None:
        self._set_language(None)
        super().undo()
        self._fit(len(self.document.text))

    def redo(self) -> None:
        self._set_language(None)
        super().redo()
        self._fit(len(self.document.text))
