"""`moelab serve` in a real headless browser: Debian's Chromium loads the page, the runs view
renders, and a key press changes the view.

Chromium is driven over its DevTools protocol (a websocket; aiohttp comes with
textual-serve). What the browser's terminal receives is captured in the page by wrapping
WebSocket before the page's script runs, and read back as text. Skipped only when no
Chromium is installed (Debian: apt-get install -y chromium).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install -y "
                                "chromium)")

CAPTURE = """
window.__moelab = [];
const Original = window.WebSocket;
class Capturing extends Original {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => {
      if (typeof e.data === "string") { window.__moelab.push(e.data); }
      else if (e.data instanceof ArrayBuffer) {
        window.__moelab.push(new TextDecoder().decode(e.data));
      } else if (e.data instanceof Blob) { e.data.text().then((t) => window.__moelab.push(t)); }
    });
  }
}
window.WebSocket = Capturing;
"""
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevTools:
    """The smallest DevTools client: one page, commands answered in order."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def screen_text(self) -> str:
        out = await self.send("Runtime.evaluate", expression="window.__moelab.join('')",
                              returnByValue=True)
        return ANSI.sub("", out.get("result", {}).get("value") or "")

    async def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = await self.screen_text()
            if text in seen:
                return seen
            await asyncio.sleep(0.5)
        raise AssertionError(f"the browser never showed {text!r}; last text: {seen[-800:]!r}")


async def drive(page_url: str, cdp_port: int) -> dict:
    import aiohttp
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{cdp_port}/json/list") as r:
                    targets = await r.json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (aiohttp.ClientError, StopIteration):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = DevTools(ws)
            await cdp.send("Page.enable")
            await cdp.send("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE)
            await cdp.send("Page.navigate", url=page_url)
            runs = await cdp.wait_for("7 Compare", timeout=90)  # the tab bar
            runs = await cdp.wait_for("Welcome to moelab", timeout=30)
            await cdp.send("Runtime.evaluate", expression=(
                "document.querySelector('.xterm-helper-textarea').focus()"))
            before = len(await cdp.screen_text())
            for kind in ("keyDown", "keyUp"):
                await cdp.send("Input.dispatchKeyEvent", type=kind, key="3", code="Digit3",
                               text="3" if kind == "keyDown" else "",
                               windowsVirtualKeyCode=51)
            after = await cdp.wait_for("No sweep over data.sparsity", timeout=60)
            return {"runs": runs, "phase": after[before:]}


def test_serve_renders_the_runs_view_and_a_key_changes_it(tmp_path):
    db = tmp_path / "lab.duckdb"
    port, cdp_port = free_port(), free_port()
    env = {**os.environ, "MOELAB_STATE_DIR": str(tmp_path / "state"),
           "MOELAB_CONFIG_DIR": str(tmp_path / "config")}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "moelab.cli", "serve", "--port",
                                   str(port), "--db", str(db)], env=env, cwd=tmp_path,
                                  stdout=out, stderr=subprocess.STDOUT)
    browser = None
    try:
        url = wait_for_url(server, log, port)
        browser = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", f"--remote-debugging-port={cdp_port}",
             f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,1000",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = asyncio.run(drive(url, cdp_port))
        assert "1 Runs" in seen["runs"] and "Welcome to moelab" in seen["runs"]
        assert "No sweep over data.sparsity" in seen["phase"]
        # Without the token the lab is not served.
        import urllib.error
        import urllib.request
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert refused.value.code == 403
    finally:
        for proc in (browser, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        subprocess.run([sys.executable, "-m", "moelab.cli", "engine", "stop", "--db",
                        str(db)], capture_output=True, timeout=60)


def wait_for_url(server: subprocess.Popen, log: Path, port: int,
                 timeout: float = 90) -> str:
    """The URL `moelab serve` prints (with its token), once the server answers."""
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(rf"http://127\.0\.0\.1:{port}/\?token=[\w-]+", log.read_text())
        if server.poll() is not None:
            raise AssertionError("moelab serve exited: " + log.read_text())
        if m:
            try:
                with urllib.request.urlopen(m.group(0), timeout=5) as r:
                    if r.status == 200:
                        return m.group(0)
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError("moelab serve did not answer: " + log.read_text())


def test_serve_refuses_a_port_out_of_range(tmp_path):
    out = subprocess.run([sys.executable, "-m", "moelab.cli", "serve", "--port", "0",
                          "--db", str(tmp_path / "x.duckdb")], capture_output=True, text=True,
                         timeout=60, cwd=Path(tmp_path))
    assert out.returncode == 2 and "--port" in out.stderr
