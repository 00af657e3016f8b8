"""What the lab remembers for the user between sessions: the export folder, saved views of
the Runs table and saved SQL queries, in one small JSON file (no database migration needed).

The file is ~/.config/moelab/tui.json ($XDG_CONFIG_HOME respected; $MOELAB_CONFIG_DIR
replaces the folder, for tests), readable by its owner only (0600, folder 0700). It is
written whole (a temp file, then rename) and opened without following symbolic links, so a
link planted at its place cannot redirect the write to another file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

FILE_NAME = "tui.json"


def config_dir() -> Path:
    if os.environ.get("MOELAB_CONFIG_DIR"):
        return Path(os.environ["MOELAB_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "moelab"


class Settings:
    """get/set of top-level keys; a missing or unreadable file reads as empty."""

    def __init__(self, path: Path | None = None):
        self.path = path or config_dir() / FILE_NAME

    def load(self) -> dict:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return {}
        try:
            with os.fdopen(fd, "r", encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.load().get(key, default)

    def set(self, key: str, value: Any) -> None:
        data = self.load()
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        self.save(data)

    def save(self, data: dict) -> None:
        """Raises OSError when the folder cannot be written (the caller says so)."""
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.is_symlink():
            raise OSError(f"{folder} is a symbolic link; refusing to write settings there")
        fd, tmp = tempfile.mkstemp(prefix=".tui.", suffix=".json", dir=folder)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)  # replaces a link itself, never its target
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class Named:
    """A named collection inside the settings (saved views, saved queries)."""

    def __init__(self, key: str, settings: Settings | None = None):
        self.key = key
        self.settings = settings or Settings()

    def all(self) -> dict[str, Any]:
        items = self.settings.get(self.key, {})
        return items if isinstance(items, dict) else {}

    def put(self, name: str, value: Any) -> None:
        items = self.all()
        items[name] = value
        self.settings.set(self.key, items)

    def delete(self, name: str) -> None:
        items = self.all()
        items.pop(name, None)
        self.settings.set(self.key, items)
