"""`bench --find-burst N [--chromium]`: N students press Find within a few seconds while the run trains.

Find runs in each student's tab (gan_app/ui/lab/web/find.js); what reaches the server is what a
tab's page sends, over Streamlit's own protocol. On a fresh dashboard server with `fast`
training, N emulated students (gan_app/bench/students.py) open /lab on the live run and draw a
held-out digit (the canvas component's value: one page run each, where the server's classifier
and D judge it). Then, spread over `spread_s` seconds, each presses Find (a page run that hands
the tab the target), its tab searches for `search_s` seconds (emulated: the tab's time, not the
server's), and sends the answer as the find component's value: the page run that shares the
drawing with the class. It reports when each answer was shown (that page run finished), the
training speed during the burst against the speed just before it, whether the server ever
prepared a search of its own, and errors. With `chromium`, one real tab on the same server
searches a held-out digit in the lab's model beside the burst: how long a student waits, on a
CPU the server shares.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

import numpy as np

from gan_app.bench.students import EmulatedStudent, LabStats
from gan_app.bench.tab import ViewerStats
from gan_app.bench.viewers import _read_step, on_fresh_servers, pct, start_training

FIND = "Find in latent space"
SEARCH_S = 3.3  # a tab's search of the live `fast` model beside a class (the --chromium figure)

FIND_IN_TAB = """async (root, target) => {
  const lab = root.__lab;
  const url = (name) => new URL(lab.data.base + name, window.location.href).href;
  const runtime = await import(url("runtime.js"));
  const { find } = await import(url("find.js"));
  await runtime.loadGradients(lab.data.base);
  const found = await find(lab.model, Float32Array.from(target), { budgetS: Infinity });
  return { seconds: found.seconds, mse: found.mse, backend: lab.tf.getBackend() };
}"""


def _chromium_find(url: str, target01: np.ndarray, ready: threading.Event, go: threading.Event) -> dict[str, Any]:
    """One real student: opens /lab, sets `ready` once the lab is up, then searches `target01` in
    the tab when `go` is set (the burst starts)."""
    from gan_app.bench.browser import browser

    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1']")
        root.wait_for(timeout=120_000)
        ready.set()
        go.wait(300)
        found = root.evaluate(FIND_IN_TAB, np.asarray(target01, np.float32).ravel().tolist())
    return {"chromium_find_s": round(found["seconds"], 2), "chromium_find_mse": round(float(found["mse"]), 4),
            "chromium_backend": found["backend"]}


class _Student:
    """One emulated student's drawing and Find, timed."""

    def __init__(self, tab: EmulatedStudent, digit01: np.ndarray, latent_dim: int, seed: int) -> None:
        self.tab, self.digit01 = tab, np.asarray(digit01, np.float32).reshape(28, 28)
        self.z = np.random.default_rng(seed).standard_normal(latent_dim).astype(np.float32)
        self.answer_s: float | None = None  # answer sent -> its page run finished
        self.shown_s: float | None = None  # Find pressed -> the answer's page run finished
        self.shared = False

    async def draw(self) -> None:
        """A stroke ends: the canvas's PNG goes with a page run (the drawing is judged)."""
        from gan_app.core.images import image_png

        png = base64.b64encode(image_png(self.digit01[..., None], scale=10)).decode()
        self.tab.set_component("canvas", {"png": "data:image/png;base64," + png})
        await self.tab.load_page(timeout=120)
        if FIND not in self.tab.page.buttons:
            raise RuntimeError(f"{self.tab.name}: no {FIND!r} button after drawing")

    async def find(self, search_s: float) -> None:
        pressed = time.perf_counter()
        await self.tab.click(FIND, timeout=60)
        asked = self.tab.components.get("lab_find")
        if asked is None:
            raise RuntimeError(f"{self.tab.name}: the page did not hand the search to the tab")
        await asyncio.sleep(search_s)
        image = [round(float(v), 4) for v in self.digit01.ravel()]
        self.tab.set_component("lab_find", {"found": {
            "request": asked[1]["request"], "z": self.z.tolist(), "digit": None, "image": image,
            "mse": 0.01, "seconds": search_s, "backend": "wasm"}})
        self.tab.captions = []
        sent = time.perf_counter()
        await self.tab.load_page(timeout=60)
        done = time.perf_counter()
        self.answer_s, self.shown_s = done - sent, done - pressed
        self.shared = any("found in this tab" in text for text in self.tab.captions)


async def _burst(url: str, n: int, spread_s: float, search_s: float, warmup_steps: int, latent_dim: int,
                 chromium: bool, window_s: float = 10.0) -> dict[str, Any]:
    from gan_app.models.classifier import split
    from gan_app.data.datasets import load_dataset

    ds = load_dataset("mnist5k")
    held_out = split(ds)[1]
    stats, lab = ViewerStats(), LabStats()
    await start_training(url, stats, warmup_steps)
    students = [_Student(EmulatedStudent(url, stats, lab, f"student {i}", seed=i), ds.x[held_out[i]], latent_dim, i)
                for i in range(n)]
    for i in range(0, n, 10):
        batch = students[i : i + 10]
        await asyncio.gather(*(s.tab.connect() for s in batch))
        await asyncio.gather(*(s.tab.load_page(timeout=120) for s in batch))
        await asyncio.gather(*(s.draw() for s in batch))
    await asyncio.sleep(5.0)  # their first visits' fetches are over
    probe, ready, go = None, threading.Event(), threading.Event()
    if chromium:
        probe = asyncio.ensure_future(asyncio.to_thread(_chromium_find, url, ds.x[held_out[n]], ready, go))
        await asyncio.to_thread(ready.wait, 120)  # the tab opens and draws before the speed is taken
    t0, s0 = await _read_step(url, stats)
    await asyncio.sleep(window_s)  # the speed before the burst
    t1, s1 = await _read_step(url, stats)

    async def press(i: int, student: _Student) -> None:
        await asyncio.sleep(spread_s * i / max(1, n - 1))
        try:
            await student.find(search_s)
        except Exception as exc:  # a page run that never finished is what this bench looks for
            stats.error("answer not shown", f"{student.tab.name}: {type(exc).__name__}: {exc}")

    burst_start = time.perf_counter()
    go.set()  # the real tab searches with the burst
    await asyncio.gather(*(press(i, s) for i, s in enumerate(students)))
    spread = spread_s if n > 1 else 0.0  # one student presses at once
    await asyncio.sleep(max(0.0, burst_start + max(window_s, spread + search_s + 5.0) - time.perf_counter()))
    t2, s2 = await _read_step(url, stats)
    in_chromium = await probe if probe is not None else {}
    await asyncio.gather(*(s.tab.close() for s in students))
    answers = [s.answer_s * 1000 for s in students if s.answer_s is not None]
    shown = [s.shown_s for s in students if s.shown_s is not None]
    before, during = (s1 - s0) / (t1 - t0), (s2 - s1) / (t2 - t1)
    return {"students": n, "spread_s": spread_s, "tab_search_s": search_s, "answered": len(answers),
            "shared": sum(s.shared for s in students), "server_searched": None,  # read from the server's log
            "answer_p50_ms": pct(answers, 0.5), "answer_max_ms": round(max(answers), 1) if answers else None,
            "slowest_press_to_shown_s": round(max(shown), 2) if shown else None,
            "steps_per_s_before": round(before, 2), "steps_per_s_during": round(during, 2),
            "speed_kept": round(during / before, 3) if before else None,
            "errors": sum(stats.errors.values()), "error_kinds": dict(stats.errors),
            "error_examples": stats.error_examples[:3], **in_chromium}


def bench_find_burst(n: int, spread_s: float = 5.0, preset: str = "fast", chromium: bool = False,
                     warmup_steps: int = 200, search_s: float = SEARCH_S, window_s: float = 10.0) -> dict[str, Any]:
    """`n` students press Find within `spread_s` seconds on a fresh server training `preset`;
    each tab's search takes `search_s` (emulated); the training speed is taken over `window_s`
    before the burst and at least as long during it. One result row."""
    from gan_app.core.config import get_preset

    latent_dim = get_preset(preset).latent_dim
    rows = on_fresh_servers([n], preset, "gan-app-find-", lambda url, count, pid: asyncio.run(
        _burst(url, count, spread_s, search_s, warmup_steps, latent_dim, chromium, window_s)))
    row = next(iter(rows))
    row.pop("ratio_to_0", None)
    return row
