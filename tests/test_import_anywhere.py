"""`import moelab` from the folder that holds the clone (issue 20 item 10): a folder named
moelab in the current directory (the clone itself) must not shadow the installed package as a
namespace package without moelab.open (scripts/moelab-first.pth, installed by ./lab and ./test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_moelab_beside_the_clone_finds_the_package(tmp_path):
    (tmp_path / "moelab").symlink_to(ROOT, target_is_directory=True)  # ~/moelab, cwd ~
    proc = subprocess.run(
        [sys.executable, "-c", "import moelab; print(moelab.__file__); print(moelab.open)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(ROOT / "moelab" / "__init__.py")
