"""`bench --students N --follow`: N emulated students follow the presenter's lab while the run
trains.

On a fresh dashboard server (no password: every tab may present, as on a teacher's laptop), Start
is pressed, N emulated students open /lab as a tab does (gan_app/bench/students.py: the page,
the lab's scripts and TensorFlow.js, the model version, the lab's socket) and follow. One more
emulated tab is the presenter: it switches Present on with the page's own switch (a page run,
whose lab gets the presenter's token), then moves once a second, sending its view over its lab's
socket as the presenter's lab does (gan_app/ui/lab/web/follow.js). Each follower notes when each view
reaches its socket (a tab draws it itself from there: no server work). Reported: the speed kept
against the same bench's 0-student run, the time from a move to the view in one follower's tab
(p50, p95) and in every follower's (p95 over moves), and errors. With `chromium`, one real
student's lab in Chromium follows beside them: the time from each move to the frame after its
image was drawn there (chromium_follow_p50_ms, chromium_follow_p95_ms).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Iterable

import numpy as np

from gan_app.bench.students import EmulatedStudent, LabStats
from gan_app.bench.tab import ViewerStats
from gan_app.bench.viewers import _read_step, on_fresh_servers, pct, start_training
from gan_app.lab.presentation import encode_view

PRESENT = "Present: every student's lab follows mine"
MOVE_EVERY_S = 1.0


class _Follower(EmulatedStudent):
    """A student's lab that follows: the arrival time of every view the presenter sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived: dict[str, float] = {}

    def lab_message(self, message: dict[str, Any]) -> None:
        super().lab_message(message)
        view = (message.get("present") or {}).get("view")
        if view:
            self.arrived.setdefault(view["state"], time.perf_counter())


async def _present(presenter: EmulatedStudent) -> tuple[str, str]:
    """The presenter switches Present on, as its page's switch does: (its token, its lab's key)."""
    wid = presenter.page.labels.get(PRESENT)
    if wid is None:
        raise RuntimeError("the lab page offers no Present switch")
    presenter.page.widgets[wid].bool_value = True
    await presenter.load_page(timeout=120)
    lab = presenter.components["lab"][1]
    if not lab.get("lead_token"):
        raise RuntimeError("the presenter's lab was given no token")
    return lab["lead_token"], lab["key"]


# In the Chromium follower's page: the wall time of the frame after each view was drawn, and
# which view it was (the lab sets data-followed once it has applied and drawn a view).
WATCH_FOLLOWS = """(root) => {
  window.__follows = [];
  new MutationObserver(() => {
    const state = root.__lab.follower.present.view && root.__lab.follower.present.view.state;
    requestAnimationFrame(() => window.__follows.push([performance.timeOrigin + performance.now(), state]));
  }).observe(root, { attributes: true, attributeFilter: ["data-followed"] });
}"""


def _chromium_follower(url: str, ready: threading.Event, done: threading.Event) -> list[tuple[float, str]]:
    """One real student's lab in Chromium, following the presenter from when Present is on
    until `done`: (wall time in ms of the frame after the view was drawn, the view's state)."""
    from gan_app.bench.browser import browser

    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1'][data-present='following']")
        root.wait_for(timeout=180_000)
        root.evaluate(WATCH_FOLLOWS)
        ready.set()
        done.wait(600)
        return [(float(t), str(state)) for t, state in page.evaluate("window.__follows")]


async def _lead(presenter: EmulatedStudent, token: str, key: str, latent_dim: int, seconds: float,
                sent: dict[str, float], wall: dict[str, float] | None = None) -> None:
    """Move once a second for `seconds`: a new point and slider values each time."""
    from websockets.asyncio.client import connect

    rng = np.random.default_rng(0)
    path = f"{presenter.data['socket']}?key={key}&live=1"
    async with connect(f"ws://{presenter.host}:{presenter.port}{path}", max_size=None, compression=None,
                       ping_interval=None,
                       additional_headers={"Origin": presenter.origin, "X-Forwarded-For": presenter.address}) as ws:
        async def drain() -> None:  # the presenter's lab hears its own views too, and reads them, as a tab does
            async for _ in ws:
                pass

        reader = asyncio.ensure_future(drain())
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            state = encode_view(rng.standard_normal(latent_dim).tolist(), sefa=rng.uniform(-3, 3, 5).round(1).tolist())
            sent[state] = time.perf_counter()
            if wall is not None:
                wall[state] = time.time() * 1000
            await ws.send(json.dumps({"token": token, "lead": {"key": key, "state": state, "model": "live"}}))
            await asyncio.sleep(MOVE_EVERY_S)
        reader.cancel()


async def _class_of(url: str, n: int, seconds: float, warmup_steps: int, latent_dim: int,
                    chromium: bool = False) -> dict[str, Any]:
    stats, lab = ViewerStats(), LabStats()
    await start_training(url, stats, warmup_steps)
    followers = [_Follower(url, stats, lab, f"student {i}", seed=i) for i in range(n)]
    for i in range(0, n, 10):  # a class arrives over a few seconds
        batch = followers[i : i + 10]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.gather(*(s.load_page(timeout=120) for s in batch))
    presenter = EmulatedStudent(url, stats, lab, "presenter", seed=n)
    await presenter.connect()
    await presenter.load_page(timeout=120)
    token, key = await _present(presenter)
    ready, done = threading.Event(), threading.Event()
    real = asyncio.ensure_future(asyncio.to_thread(_chromium_follower, url, ready, done)) if chromium else None
    if real is not None and not await asyncio.to_thread(ready.wait, 240):
        raise RuntimeError("the Chromium follower's lab did not open")
    await asyncio.sleep(5.0)  # every follower's first visit is over
    sent: dict[str, float] = {}
    wall: dict[str, float] = {}
    t0, s0 = await _read_step(url, stats)
    await _lead(presenter, token, key, latent_dim, seconds, sent, wall)
    t1, s1 = await _read_step(url, stats)
    await asyncio.sleep(1.0)  # the last move's views arrive
    done.set()
    drawn = await real if real is not None else []
    shown = {state: at for at, state in reversed(drawn)}  # the first frame of each view
    real_ms = [shown[state] - at for state, at in wall.items() if state in shown]
    one = [(f.arrived[state] - at) * 1000 for state, at in sent.items() for f in followers if state in f.arrived]
    every = [max((f.arrived[state] - at) * 1000 for f in followers) for state, at in sent.items()
             if followers and all(state in f.arrived for f in followers)]
    missed = sum(state not in f.arrived for state in sent for f in followers)
    await asyncio.gather(*(s.close() for s in [*followers, presenter]))
    return {
        "students": n, "seconds": round(t1 - t0, 1), "steps_per_s": round((s1 - s0) / (t1 - t0), 2),
        "moves": len(sent), "follow_p50_ms": pct(one, 0.5), "follow_p95_ms": pct(one, 0.95),
        "follow_every_p95_ms": pct(every, 0.95), "views_missed": missed,
        **({"chromium_follow_p50_ms": pct(real_ms, 0.5), "chromium_follow_p95_ms": pct(real_ms, 0.95),
            "chromium_views_shown": len(real_ms)} if chromium else {}),
        "errors": sum(stats.errors.values()) + missed, "error_kinds": dict(stats.errors),
        "error_examples": stats.error_examples[:3],
    }


def bench_follow(counts: list[int], seconds: float, preset: str, warmup_steps: int = 200,
                 chromium: bool = False) -> Iterable[dict[str, Any]]:
    """For each class size: a fresh server, Start pressed, `n` students following the presenter
    for `seconds` (and one in Chromium, with `chromium`). One row per size; `speed_kept` once the
    0-student row was measured."""
    from gan_app.core.config import get_preset

    latent_dim = get_preset(preset).latent_dim
    for row in on_fresh_servers(counts, preset, "gan-app-follow-", lambda url, n, pid: asyncio.run(
            _class_of(url, n, seconds, warmup_steps, latent_dim, chromium))):
        row["speed_kept"] = row.get("ratio_to_0")
        yield row
