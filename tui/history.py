"""Recent filters and queries, kept across sessions in a small JSON file."""

from __future__ import annotations

import json
import os
from pathlib import Path

KEEP = 50


def history_path() -> Path:
    base = os.environ.get("MOELAB_STATE_DIR") or os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path.home() / ".local" / "state"
    return (root if os.environ.get("MOELAB_STATE_DIR") else root / "moelab") / "history.json"


class History:
    """Newest first, without repeats; `kind` separates runs filters from SQL queries."""

    def __init__(self, kind: str, path: Path | None = None):
        self.kind = kind
        self.path = path or history_path()

    def items(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        items = data.get(self.kind, []) if isinstance(data, dict) else []
        return [i for i in items if isinstance(i, str)]

    def add(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        try:
            data = json.loads(self.path.read_text())
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        items = [text] + [i for i in data.get(self.kind, []) if i != text]
        data[self.kind] = items[:KEEP]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(data, indent=1))
        except OSError:  # history is a convenience; a read-only home must not break the lab
            pass
