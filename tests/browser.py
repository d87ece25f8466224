"""Open a page in headless Chromium and report what a reader would meet: console errors, images that did not
load, the page's size, and (optionally) a screenshot. Talks to Chromium over the DevTools protocol on 127.0.0.1
(``websockets``, already a dependency of Prefect); used by the report test and by ``docs/pictures.py``."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageCheck", "chromium", "check_page"]

CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Browser commands tried in order."""

_IMAGES = """(() => Array.from(document.images).map(i => ({src: i.src.slice(0, 60), alt: i.alt,
  ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth})))()"""


_OVERFLOWING = """(() => Array.from(document.querySelectorAll('table')).filter(t => {
  const box = t.parentElement; const scrolls = getComputedStyle(box).overflowX;
  return t.getBoundingClientRect().right > box.getBoundingClientRect().right + 1 && !['auto', 'scroll'].includes(scrolls);
}).map(t => t.innerText.slice(0, 60)))()"""


@dataclass
class PageCheck:
    """What one page load showed: console errors and exceptions, every image (``ok``: decoded, non-empty), the
    page's title and scroll height."""

    errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    height: int = 0
    width: int = 0
    """The page's scroll width: wider than ``viewport`` when something runs off the page sideways."""
    viewport: int = 0
    overflowing: list[str] = field(default_factory=list)
    """The first cells of every table wider than the box it sits in: those must scroll in a box of their own."""


def chromium() -> str | None:
    """The headless-capable browser on this machine, or None."""
    return next((path for name in CHROMIUMS if (path := shutil.which(name))), None)


class _Session:
    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=64 * 2**20, open_timeout=30)
        self.n = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise TimeoutError(f"{method} took longer than {timeout} s")

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(msg)
            if msg.get("method") == event:
                return
        raise TimeoutError(f"no {event} within {timeout} s")


def check_page(url: str, *, screenshot: Path | None = None, width: int = 1200, timeout: float = 120.0) -> PageCheck:
    """Load ``url`` (e.g. ``file:///.../report.html``) in headless Chromium and say what a reader would meet;
    with ``screenshot``, save the whole page as a PNG ``width`` px wide."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on this machine (Debian: apt-get install chromium)")
    profile = Path(tempfile.mkdtemp(prefix="ldn-chromium-"))
    proc = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         f"--window-size={width},900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(profile)})
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{browser} did not start (exit {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        session = _Session(page["webSocketDebuggerUrl"])
        try:
            for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
                session.call(domain)
            session.call("Page.navigate", url=url)
            session.wait_for("Page.loadEventFired", timeout=timeout)
            check = PageCheck()
            check.images = session.call("Runtime.evaluate", expression=_IMAGES, returnByValue=True)["result"]["value"]
            check.title = session.call("Runtime.evaluate", expression="document.title", returnByValue=True)["result"]["value"]
            check.height = int(session.call("Runtime.evaluate", expression="document.documentElement.scrollHeight",
                                            returnByValue=True)["result"]["value"])
            check.width, check.viewport = session.call(
                "Runtime.evaluate", expression="[document.documentElement.scrollWidth, window.innerWidth]",
                returnByValue=True)["result"]["value"]
            check.overflowing = session.call("Runtime.evaluate", expression=_OVERFLOWING,
                                             returnByValue=True)["result"]["value"]
            for event in session.events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Runtime.exceptionThrown":
                    check.errors.append(params["exceptionDetails"].get("text", "exception"))
                elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                    check.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    check.errors.append(params["entry"].get("text", ""))
            if screenshot is not None:
                session.call("Emulation.setDeviceMetricsOverride", width=width, height=min(check.height, 16000),
                             deviceScaleFactor=1, mobile=False)
                shot = session.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            return check
        finally:
            session.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
