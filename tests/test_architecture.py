"""The layers' boundaries as import-linter contracts (pyproject.toml, [tool.importlinter]).

The package maps folders into one namespace (engine/ is moelab.engine, and so on), which
import-linter cannot follow from an editable install, so the test lays the tree out as it is
installed in a temp folder and lints that copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"engine": "engine", "db": "db", "tui": "tui", "benchmarks": "benchmarks"}
# lint-imports on the copy: the editable install's finder (put first by moelab-first.pth)
# would otherwise answer for `moelab` with this checkout's folders.
LINT = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if not "
        "str(getattr(f, '__module__', '')).startswith('__editable___moelab_')]; "
        "from importlinter.cli import lint_imports_command; "
        "sys.argv = ['lint-imports', '--no-cache']; sys.exit(lint_imports_command())")


def _installed_layout(dest: Path) -> Path:
    pkg = dest / "moelab"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "moelab", pkg, ignore=ignore)
    for sub, folder in MAPPED.items():
        shutil.copytree(ROOT / folder, pkg / sub, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT], cwd=tree, capture_output=True,
                          text=True, timeout=120,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def test_import_contracts_hold(tmp_path):
    out = _lint(_installed_layout(tmp_path))
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "broken" not in out.stdout.split("Contracts:")[-1].split("\n")[0].replace(
        "0 broken", ""), out.stdout[-3000:]


def test_a_broken_contract_fails(tmp_path):
    """The check can fail: a TUI module that imports db/ breaks the first contract."""
    tree = _installed_layout(tmp_path)
    (tree / "moelab" / "tui" / "planted.py").write_text("from moelab.db import reads\n")
    out = _lint(tree)
    assert out.returncode != 0 and "moelab.tui.planted -> moelab.db" in out.stdout, out.stdout


def test_every_family_has_the_protocol_members():
    """A family is one obvious place: the registry's modules all answer the same questions
    (engine/families/__init__.py, Family)."""
    from moelab.engine.families import _FAMILIES, MEMBERS, family
    for name in _FAMILIES:
        module = family(name)
        missing = [m for m in MEMBERS if not hasattr(module, m)]
        assert not missing, (name, missing)
        assert module.FAMILY == name
