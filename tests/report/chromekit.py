"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol.

    with Browser(tmp) as browser:
        page = browser.open(path)       # navigates, waits for load and two frames
        page.requests                   # every URL the page asked for
        page.png(clip)                  # a screenshot of a region, as PIL image
        page.js("document.title")       # evaluates an expression

Chromium is started with every background fetch off and a host resolver that maps every
name to "not found", so even a request that got out could reach nothing; the test
still checks that none was made. The browser is ended by its own pid.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from PIL import Image
from websockets.sync.client import ClientConnection, connect

from fakes.services import MissingService

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
START_WAIT = 60.0  # a cold Chromium start on a loaded 2-core machine


def chromium() -> str:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        raise MissingService(
            "chromium is not installed: run scripts/setup.sh (apt-get install chromium)"
        )
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


class Page:
    """One tab: commands, and the events it saw (requests, console errors)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.events: list[str] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=120))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._event(message)

    def wait_for(self, event: str) -> None:
        while event not in self.events:
            self._event(json.loads(self.ws.recv(timeout=120)))

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method", ""), message.get("params", {})
        self.events.append(method)
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.failed.append(params.get("errorText", ""))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(json.dumps(params.get("args"))[:500])

    def js(self, expression: str) -> Any:
        done = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in done:
            raise RuntimeError(f"{expression}: {done['exceptionDetails']}")
        return done["result"].get("value")

    def png(self, clip: dict[str, float]) -> Image.Image:
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={**clip, "scale": 1},
        )
        return Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")


class Browser:
    def __init__(self, tmp: Path) -> None:
        self.profile = tmp / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.held = contextlib.ExitStack()

    def __enter__(self) -> Browser:
        self.proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=(self.profile / "stderr.log").open("wb"),
        )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_WAIT
        while not (active.exists() and active.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.profile / "stderr.log").read_text(errors="replace")[-2000:]
                raise MissingService(f"chromium did not start: {log}")
            time.sleep(0.05)
        self.port = int(active.read_text().split()[0])
        return self

    def __exit__(self, *_exc: object) -> None:
        self.held.close()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self, path: Path) -> Page:
        """A new tab on `path` with the network and log watched from before navigation."""
        with urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT"
            ),
            timeout=30,
        ) as answer:
            target = json.load(answer)
        ws = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        page = Page(self.held.enter_context(ws))
        for domain in ("Network", "Page", "Log", "Runtime"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.events.clear()
        page.call("Page.navigate", url=path.resolve().as_uri())
        page.wait_for("Page.loadEventFired")
        # Plotly draws in the load's scripts; two animation frames later it has painted.
        page.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return page
