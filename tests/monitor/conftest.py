"""tests/monitor fixtures: a headless Chromium driven over the DevTools protocol (open a page, screenshot it when
ready).

Chromium comes from apt (scripts/dev.sh installs it); the protocol is spoken with the `websockets` client, so no
browser download or node toolchain is needed. Everything stays on 127.0.0.1: the page, the DevTools socket.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--window-size=1024,640",
                  "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


def _group_alive(group: int) -> bool:
    """Whether any process of process group `group` is left (zombies not yet reaped by their parent count)."""
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessChromium:
    def __init__(self, timeout: float = 30.0) -> None:
        exe = chromium_path()
        if exe is None:
            raise FileNotFoundError("chromium is not installed (scripts/dev.sh installs it with apt)")
        self._profile = tempfile.TemporaryDirectory(prefix="dit4dit_chromium_")
        # its own process group: Chromium's helpers (renderer, GPU, utility, crashpad) are stopped with it
        self.proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        deadline, port = time.monotonic() + timeout, None
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode} before DevTools started")
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(match.group(1)) if match else None
        if port is None:
            self.close()
            raise TimeoutError(f"chromium did not start DevTools within {timeout} s")
        self.port = port
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        self.ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self._id = 0

    def _call(self, ws, method: str, **params):
        self._id += 1
        ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            reply = json.loads(ws.recv(timeout=180))  # software WebGL on a busy CPU is slow
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply.get("result", {})

    def screenshot_when(self, url: str, ready: Callable[[np.ndarray], bool], timeout: float, out: Path,
                        poll: float = 2.0) -> np.ndarray:
        """Open `url`, take a screenshot every `poll` s until `ready(rgb)` or `timeout`; the last one is written to
        `out` (PNG) and returned as RGB."""
        import cv2
        from websockets.sync.client import connect

        with connect(self.ws_url, max_size=64 * 2**20, open_timeout=10) as ws:
            self._call(ws, "Page.enable")
            self._call(ws, "Page.navigate", url=url)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    png = base64.b64decode(self._call(ws, "Page.captureScreenshot", format="png")["data"])
                except RuntimeError as exc:  # the page is still being replaced by the navigation
                    if "Not attached" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(poll)
                    continue
                rgb = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
                if ready(rgb) or time.monotonic() > deadline:
                    Path(out).write_bytes(png)
                    return rgb
                time.sleep(poll)

    def close(self) -> None:
        """Stop Chromium and every helper it started (its process group, led by its own pid), then remove the
        profile. Removing it while a helper still wrote into it failed with "Directory not empty: 'Default'"
        (the main process had exited, a helper had not)."""
        group = self.proc.pid
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_alive(group):
                self.proc.poll()  # reap the leader so that it does not count as alive
                time.sleep(0.05)
            if not _group_alive(group):
                break
        self.proc.wait(timeout=10)
        self._profile.cleanup()

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def chromium():
    """A headless Chromium (skipped with the reason where none is installed)."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/dev.sh setup installs it from apt)")
    with HeadlessChromium() as browser:
        yield browser
