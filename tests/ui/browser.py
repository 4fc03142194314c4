"""A headless Chromium driven over the Chrome DevTools Protocol, to use a page as a person does:
load it with the user's session cookie, fill a form, click its button (a real mouse event at the
button's place), and read the page the click led to.

No browser-automation library: Chromium's own ``--remote-debugging-port`` and the ``websockets``
client (an Airflow dependency) are enough for what the UI tests need.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect


class Browser:
    def __init__(self, profile: Path, *, timeout: float = 60) -> None:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise FileNotFoundError("chromium")
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--user-data-dir={profile}", "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its debugging port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        import requests

        targets = []
        while not targets:
            targets = [t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page"]
            if not targets:
                time.sleep(0.2)
        self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.send("Page.enable")
        self.send("Network.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def _wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def set_cookie(self, url: str, name: str, value: str) -> None:
        assert self.send("Network.setCookie", name=name, value=value, url=url).get("success", True)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def text(self) -> str:
        return self.js("document.body.innerText")

    def html(self) -> str:
        return self.js("document.documentElement.outerHTML")

    def fill(self, selector: str, value: str) -> None:
        """Set a field's value as typing would (``input`` and ``change`` events)."""
        ok = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;
            e.value = {json.dumps(value)}; e.dispatchEvent(new Event('input', {{bubbles: true}}));
            e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()""")
        assert ok, f"no field {selector}"

    def click(self, selector: str, *, navigates: bool = True) -> None:
        """A left click in the middle of the element (scrolled into view), as a mouse does; with
        ``navigates``, waits for the page it leads to."""
        box = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;
            e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; }})()""")
        assert box and box[2] > 0 and box[3] > 0, f"nothing visible to click at {selector}"
        self.events.clear()
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        if navigates:
            self._wait_event("Page.loadEventFired")

    def screenshot(self, path: Path) -> bytes:
        import base64

        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
