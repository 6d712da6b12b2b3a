"""Chromium through Playwright (a dev requirement, imported only here) on the dashboard: for the
browser tests and `bench --dashboard`. Debian's Chromium, never a downloaded one."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

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


def number_text(page: Any, label: str) -> str:
    """One of the Train page's status numbers above the curves (Step, State, ...), pushed with the grid."""
    return page.locator(f"[data-p='numbers'] [data-label='{label}'] .gan-number-value").first.inner_text()


def read_step(page: Any) -> int:
    """The Step number above the curves."""
    return int(number_text(page, "Step").replace(",", ""))


def live_step(page: Any) -> int:
    """The step in the live panel's status line (pushed every second)."""
    line = page.locator("[data-live='line']").first.inner_text()  # "step 1,234 · 31.2 steps/s · running"
    return int(line.split("·")[0].replace("step", "").replace(",", "").strip() or 0)


def live_grid_src(page: Any) -> str | None:
    """The data: URL of the live panel's grid, None before the first grid."""
    img = page.locator("[data-live='grid']").first
    return img.get_attribute("src") if img.count() and img.is_visible() else None
