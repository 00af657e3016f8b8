"""The TUI's boundary: it talks to the lab through the client API only, so importing it
must load neither torch nor moelab.db (a fresh interpreter, so other tests cannot hide it)."""

import subprocess
import sys


def test_tui_imports_neither_torch_nor_db():
    code = ("import sys, moelab.tui.app, moelab.tui.form_model as f, moelab.tui.validate as v; "
            "v.check(f.field_values({}) and {}, 'x'); "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
            "or m == 'moelab.db' or m.startswith('moelab.db.')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
