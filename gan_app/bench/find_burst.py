"""`bench --find-burst N [--chromium]`: N students press Find within a few seconds while the run trains.

Find runs in each student's tab (gan_app/ui/web/find.js): what reaches the server is the
answer, which reruns the student's lab page once (the page shares the drawing with the class).
On a fresh dashboard server with `fast` training, N emulated students open /lab as in
`bench --students`; then, spread over `spread_s` seconds, each tab's answer arrives as a page
run. It reports when each page run finished, and the training speed during the burst against
the speed just before it. With `chromium`, one real tab on the same server runs a search of a
held-out digit in the lab's model beside the burst: how long a student waits, on a CPU the
server shares.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from gan_app.bench.students import EmulatedStudent, LabStats
from gan_app.bench.tab import ViewerStats
from gan_app.bench.viewers import _read_step, on_fresh_servers, pct, start_training

FIND_IN_TAB = """async (root, target) => {
  const lab = root.__lab;
  const url = (name) => new URL(lab.data.base + name, window.location.href).href;
  const runtime = await import(url("runtime.js"));
  const { find } = await import(url("find.js"));
  await runtime.loadGradients(lab.data.base);
  const found = await find(lab.model, Float32Array.from(target));
  return { seconds: found.seconds, mse: found.mse, backend: lab.tf.getBackend() };
}"""


def _chromium_find(url: str, target01: np.ndarray, start_at: float) -> dict[str, Any]:
    """One real student: opens /lab, then at `start_at` (perf_counter) searches `target01` in the tab."""
    from gan_app.bench.browser import browser

    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1']")
        root.wait_for(timeout=120_000)
        time.sleep(max(0.0, start_at - time.perf_counter()))
        found = root.evaluate(FIND_IN_TAB, np.asarray(target01, np.float32).ravel().tolist())
    return {"chromium_find_s": round(found["seconds"], 2), "chromium_find_mse": round(float(found["mse"]), 4),
            "chromium_backend": found["backend"]}


async def _burst(url: str, n: int, spread_s: float, warmup_steps: int, chromium: bool) -> dict[str, Any]:
    stats, lab = ViewerStats(), LabStats()
    await start_training(url, stats, warmup_steps)
    students = [EmulatedStudent(url, stats, lab, f"student {i}", seed=i) for i in range(n)]
    for i in range(0, n, 10):
        batch = students[i : i + 10]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.gather(*(s.load_page(timeout=120) for s in batch))
    await asyncio.sleep(5.0)  # their first visits' fetches are over
    probe = None
    if chromium:
        from gan_app.classifier import split
        from gan_app.data import load_dataset

        ds = load_dataset("mnist5k")
        target = ds.x[split(ds)[1][3]]
        probe = asyncio.ensure_future(asyncio.to_thread(_chromium_find, url, target, time.perf_counter() + 25.0))
        await asyncio.sleep(15.0)  # the tab opens and draws before the speed is taken
    t0, s0 = await _read_step(url, stats)
    await asyncio.sleep(10.0)
    t1, s1 = await _read_step(url, stats)
    answered: list[float] = []

    async def answer(i: int, student: EmulatedStudent) -> None:
        await asyncio.sleep(spread_s * i / max(1, n - 1))
        asked = time.perf_counter()
        try:
            await student.load_page(timeout=60)  # the page run the answer causes
            answered.append(time.perf_counter() - asked)
        except Exception as exc:  # a page run that never finished is what this bench looks for
            stats.error("answer not shown", f"{student.name}: {type(exc).__name__}: {exc}")

    burst_start = time.perf_counter()
    await asyncio.gather(*(answer(i, s) for i, s in enumerate(students)))
    await asyncio.sleep(max(0.0, burst_start + max(10.0, spread_s + 5.0) - time.perf_counter()))
    t2, s2 = await _read_step(url, stats)
    in_chromium = await probe if probe is not None else {}
    await asyncio.gather(*(s.close() for s in students))
    before, during = (s1 - s0) / (t1 - t0), (s2 - s1) / (t2 - t1)
    return {"students": n, "spread_s": spread_s, "answered": len(answered),
            "slowest_answer_s": round(max(answered), 2) if answered else None,
            "answer_p50_ms": pct([a * 1000 for a in answered], 0.5),
            "steps_per_s_before": round(before, 2), "steps_per_s_during": round(during, 2),
            "speed_kept": round(during / before, 3) if before else None,
            "errors": sum(stats.errors.values()), "error_kinds": dict(stats.errors),
            "error_examples": stats.error_examples[:3], **in_chromium}


def bench_find_burst(n: int, spread_s: float = 5.0, preset: str = "fast", chromium: bool = False,
                     warmup_steps: int = 200) -> dict[str, Any]:
    rows = on_fresh_servers([n], preset, "gan-app-find-", lambda url, count, pid: asyncio.run(
        _burst(url, count, spread_s, warmup_steps, chromium)))
    row = next(iter(rows))
    row.pop("ratio_to_0", None)
    return row
