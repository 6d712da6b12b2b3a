"""A real `streamlit run dashboard.py` server and a Chromium page on it, for the browser tests
and the dashboard benchmark. Playwright (a dev requirement) is imported only here."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GAN_APP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """`streamlit run dashboard.py` on a free loopback port, as Streamlit's own e2e tests start it."""

    def __init__(self, env: dict[str, str] | None = None, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # a fresh checkpoints folder unless the caller shares one (a restart test does)
        scratch = {"GAN_APP_CHECKPOINTS": tempfile.mkdtemp(prefix="gan-app-e2e-")}
        self.env = {**os.environ, "GAN_APP_OFFLINE": "1", **scratch, **(env or {})}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "DashboardServer":
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    return self
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("streamlit did not answer within 60 s")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def goto_app(page: Any, url: str) -> Any:
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=60_000)
    page.get_by_text("Watch a GAN learn").first.wait_for(timeout=60_000)
    return page


@contextlib.contextmanager
def open_page(url: str) -> Iterator[Any]:
    with browser() as b:
        yield goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), url)


def metric_text(page: Any, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(has=page.get_by_text(label, exact=True))
    return metric.locator("[data-testid='stMetricValue']").first.inner_text()


def read_step(page: Any) -> int:
    """The Step metric above the curves (refreshed with them, every few seconds)."""
    return int(metric_text(page, "Step").replace(",", ""))


def live_step(page: Any) -> int:
    """The step in the live panel's status line (pushed every second)."""
    line = page.locator("[data-live='line']").first.inner_text()  # "step 1,234 · 31.2 steps/s · running"
    return int(line.split("·")[0].replace("step", "").replace(",", "").strip() or 0)


def live_grid_src(page: Any) -> str | None:
    """The data: URL of the live panel's grid, None before the first grid."""
    img = page.locator("[data-live='grid']").first
    return img.get_attribute("src") if img.count() and img.is_visible() else None
