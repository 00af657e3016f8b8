"""A view's opening drawn once, with its data (mixed into LabScreen).

A view drawn before its data came drew a whole frame for nothing (50-90 ms on 2 cores, its
reads waiting for the GIL meanwhile) and then the frame with its data. A view that reads
on opening calls `hold_paint()` where it starts its reads (compose: they run while its
widgets mount) and `release_paint()` once its data is shown:

- the app's timed repaints wait meanwhile (Textual's batch update), HOLD_SECONDS at most
  (the layouts Textual runs at once when a screen resumes or resizes still draw);
- the frame Textual draws at once when the new screen resumes (its layout) waits too: it
  showed the view without its data (20-45 ms on 2 cores); the layout itself still runs;
- answers (Fetched) that arrive before the screen's first Resize wait for it: Textual lays a
  screen out at once on that Resize, and data laid out there was laid out again in the next
  frame (run detail drew its plots twice).
"""

from __future__ import annotations

import threading

from textual.message import Message

from ..fetch import Fetched

HOLD_SECONDS = 0.25  # the longest an opening view waits for its data before it is drawn


class Opening:
    """Needs a textual Screen after it in the MRO."""

    _holding = False
    _gate = threading.Lock()  # workers post their answers from their threads
    _early: list[Message] | None = None  # answers kept for the first Resize; None: they pass

    def hold_paint(self) -> None:
        if self._holding:
            return
        self._holding = True
        with self._gate:
            self._early = []
        self.app._begin_batch()
        self.app.set_timer(HOLD_SECONDS, self.release_paint)  # outlives this screen

    def release_paint(self) -> None:
        self._open_gate()
        if self._holding:
            self._holding = False
            self.app._end_batch()
            if not self.app._batch_count:
                self.app.screen.refresh()  # the whole screen: none of it was drawn yet

    def _compositor_refresh(self) -> None:
        # Textual's own: draws what changed since the last frame, the whole screen at first
        # (the regions not drawn stay owed, so the frame after the hold draws them all).
        if not self._holding:
            super()._compositor_refresh()

    def post_message(self, message: Message) -> bool:
        if isinstance(message, Fetched):
            with self._gate:
                if self._early is not None:
                    self._early.append(message)
                    return True
        return super().post_message(message)

    def on_resize(self) -> None:
        self._open_gate()

    def _open_gate(self) -> None:
        with self._gate:
            early, self._early = self._early or [], None
        for message in early:
            super().post_message(message)
