"""`bench --students`: a class exploring the latent lab while the run trains.

Each emulated student opens /lab with Streamlit's protocol (gan_app/bench/tab.py) and then
does to the server what the browser lab's script does: it fetches the lab's scripts and
TensorFlow.js once (the browser caches them: immutable URLs), fetches each model version the
page or the lab socket names once (manifest and weights), keeps /lab/socket open, and fetches a
version's towards-a-digit directions when it opens that tool. Once a second it acts as a
student does: a slider move or a tool switch, which in the browser lab costs the server
nothing (drawn in the tab), and about once a minute something that reruns the page (changing
the model or the source). What it reports: training speed kept, server CPU and memory, how
late new versions reach the labs, bytes per tab, errors.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from streamlit.proto.WidgetStates_pb2 import WidgetState

from gan_app.bench.http import http_get
from gan_app.bench.tab import EmulatedViewer, ViewerStats
from gan_app.bench.viewers import _read_step, _rss_mb, on_fresh_servers, pct, start_training

FIRST_VISIT = ("lab.js", "runtime.js", "model.js", "net.js", "latent.js", "draw.js", "tools.js", "share.js",
               "follow.js", "classmap.js", "game.js", "curve.js", "vendor/tf-core.min.js", "vendor/tf-backend-wasm.min.js",
               "vendor/tfjs-backend-wasm-simd.wasm")
RERUN_EVERY_ACTIONS = 60  # about once a minute a student changes something the page reruns for


@dataclass
class LabStats:
    page_loads_ms: list[float] = field(default_factory=list)  # opening /lab -> the lab's files and weights fetched
    version_lags_ms: list[float] = field(default_factory=list)  # socket names a version -> its weights fetched
    first_visit_bytes: list[int] = field(default_factory=list)
    version_bytes: list[int] = field(default_factory=list)
    actions: int = 0
    page_reruns: int = 0
    versions_seen: set[str] = field(default_factory=set)


def _cpu_s(pid: int) -> float | None:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks of 10 ms
    except (OSError, IndexError, ValueError):
        return None


class EmulatedStudent(EmulatedViewer):
    """One student's tab on the latent lab."""

    def __init__(self, url: str, stats: ViewerStats, lab: LabStats, name: str, seed: int) -> None:
        super().__init__(url, stats, name)
        self.page_name = "lab"
        self.lab = lab
        self.rng = random.Random(seed)
        self.opened = time.perf_counter()
        self.data: dict[str, Any] | None = None
        self.keys: set[str] = set()
        self.towards: set[str] = set()
        self.key = ""
        self._socket: asyncio.Task | None = None
        self._files_task: asyncio.Task | None = None
        self.components: dict[str, tuple[str, dict[str, Any]]] = {}  # component name -> (widget id, its data)
        self.captions: list[str] = []  # the text of the last page runs' captions

    def set_component(self, name: str, state: dict[str, Any]) -> None:
        """What a component's script does with setStateValue: its state goes with the next page
        run (send one with load_page)."""
        wid = self.components[name][0]
        self.page.widgets[wid] = WidgetState(id=wid, json_value=json.dumps(state))

    def _handle(self, msg: Any) -> None:
        super()._handle(msg)
        if msg.WhichOneof("type") == "navigation" and msg.navigation.page_script_hash:
            # new_session names the main script; the page this tab is on comes with st.navigation,
            # and the frontend's later page runs name it (else they would run the first page)
            self.page.page_script_hash = msg.navigation.page_script_hash

    def _delta(self, msg: Any) -> None:
        super()._delta(msg)
        el = msg.delta.new_element if msg.delta.WhichOneof("type") == "new_element" else None
        if el is not None and el.WhichOneof("type") == "markdown":
            self.captions = [*self.captions[-50:], el.markdown.body]
        if el is None or el.WhichOneof("type") != "bidi_component" or not el.bidi_component.json:
            return
        data = json.loads(el.bidi_component.json)
        if not isinstance(data, dict):
            return
        name = el.bidi_component.component_name.rsplit(".", 1)[-1]  # "lab", "canvas", "lab_find"...
        self.components[name] = (el.bidi_component.id, data)
        if name == "lab_find" or "models" not in data or not data.get("key"):
            return
        self.data = data
        if self._files_task is None:
            self._files_task = self._spawn(self._first_visit(data))
        elif data["key"] not in self.keys:
            self._spawn(self._version(data["key"], None))

    async def _get(self, path: str) -> bytes | None:
        try:
            status, _, body = await http_get(self.host, self.port, path, self.cookie, self.address)
        except OSError as exc:
            self.stats.error("fetch failed", f"{path}: {exc}")
            return None
        self.stats.bytes_received += len(body)
        if status != 200:
            self.stats.error(f"HTTP {status}", path)
            return None
        return body

    async def _first_visit(self, data: dict[str, Any]) -> None:
        sizes = await asyncio.gather(*(self._get(data["base"] + name) for name in FIRST_VISIT))
        weights = await self._version(data["key"], None)
        if all(s is not None for s in sizes) and weights is not None:
            self.lab.first_visit_bytes.append(sum(len(s) for s in sizes) + weights)
            if self.measuring:
                self.lab.page_loads_ms.append((time.perf_counter() - self.opened) * 1000)
        if self._socket is None:  # every lab keeps one: new weights, the class's drawings, the presenter's view
            self._socket = self._spawn(self._listen(data))

    async def _version(self, key: str, announced: float | None) -> int | None:
        """Fetch version `key` once (manifest and weights): the bytes, None when it failed."""
        if key in self.keys:
            return 0
        self.keys.add(key)
        self.key = key
        models = self.data["models"] if self.data else "/lab/model/"
        manifest = await self._get(f"{models}{key}/manifest.json")
        blob = await self._get(f"{models}{key}/weights.bin")
        if manifest is None or blob is None:
            return None
        self.lab.versions_seen.add(key)
        if announced is not None:
            self.lab.version_bytes.append(len(manifest) + len(blob))
            if self.measuring:
                self.lab.version_lags_ms.append((time.perf_counter() - announced) * 1000)
        return len(manifest) + len(blob)

    async def _listen(self, data: dict[str, Any]) -> None:
        from websockets.asyncio.client import connect

        path = f"{data['socket']}?key={data['key']}&live={1 if data.get('live') else 0}"
        opened = connect(f"ws://{self.host}:{self.port}{path}",
                         additional_headers={"Origin": self.origin, "X-Forwarded-For": self.address},
                         max_size=None, compression=None, ping_interval=None)

        await self._consume(opened, lambda text: self.lab_message(json.loads(text)), "dropped lab socket", path)

    def lab_message(self, message: dict[str, Any]) -> None:
        """What the lab's socket says, as the tab's script reads it: a new live version is fetched."""
        live = message.get("live")
        if live and live["key"] not in self.keys:
            self._spawn(self._version(live["key"], time.perf_counter()))

    async def act(self) -> None:
        """Once a second: what a student does. Sliders and tools are drawn in the tab; the
        towards-a-digit tool fetches its version's directions once; now and then the page reruns."""
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
            self.lab.actions += 1
            choice = self.rng.random()
            if choice < 1 / RERUN_EVERY_ACTIONS:
                self.lab.page_reruns += 1
                self._run_done.clear()
                await self._send_rerun()
            elif choice < 0.1 and self.key and self.key not in self.towards and self.data:
                self.towards.add(self.key)
                await self._get(f"{self.data['models']}{self.key}/towards.json")


def _chromium_lab(url: str, seconds: float) -> dict[str, Any]:
    """One real student in Chromium on /lab for `seconds`: the time until the first image, then
    a raw slider moved four times a second and the SeFa tool opened now and then; the lab's own
    timings (generator call and drawing, in the tab) as p50 / p95 ms."""
    from gan_app.bench.browser import browser

    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1']")
        root.wait_for(timeout=120_000)
        page.locator("[data-lab='main'][data-drawn]").wait_for(timeout=60_000)
        first_image_s = time.perf_counter() - t0
        end, i, slider = time.monotonic() + seconds, 0, "raw-1"
        while time.monotonic() < end:
            i += 1
            if i % 20 == 0:  # now and then the student switches tools: SeFa draws its five strips
                tab = "SeFa" if i % 40 == 0 else "raw"
                page.locator(f"[data-tab='{tab}']").click()
                slider = "SeFa-0" if tab == "SeFa" else "raw-1"
            page.locator(f"[data-lab='{slider}']").evaluate(
                "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", (i % 30) / 10 - 1.5)
            page.wait_for_timeout(250)
        timings = root.evaluate("(el) => el.__lab.timings")

    def of(kind: str) -> list[float]:
        return [ms for what, ms in timings if what == kind]

    return {"chromium_first_image_s": round(first_image_s, 2), "chromium_slider_p50_ms": pct(of("main"), 0.5),
            "chromium_slider_p95_ms": pct(of("main"), 0.95), "chromium_tool_p95_ms": pct(of("tool SeFa"), 0.95),
            "chromium_moves": sum(1 for what, _ in timings if what == "main")}


async def _class_of(url: str, n: int, seconds: float, warmup_steps: int, server_pid: int,
                    chromium: bool = False) -> dict[str, Any]:
    stats, lab = ViewerStats(), LabStats()
    await start_training(url, stats, warmup_steps)
    rss_before = _rss_mb(server_pid)
    students = [EmulatedStudent(url, stats, lab, f"student {i}", seed=i) for i in range(n)]
    for s in students:
        s.measuring = True
    for i in range(0, n, 10):  # a class arrives over a few seconds
        batch = students[i : i + 10]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.gather(*(s.load_page(timeout=120) for s in batch))
    actors = [asyncio.ensure_future(s.act()) for s in students]
    await asyncio.sleep(min(5.0, seconds / 4))
    cpu_start = _cpu_s(server_pid)
    t0, s0 = await _read_step(url, stats)
    probe = asyncio.ensure_future(asyncio.to_thread(_chromium_lab, url, seconds - 5)) if chromium else None
    await asyncio.sleep(seconds)
    t1, s1 = await _read_step(url, stats)
    in_chromium = await probe if probe is not None else {}
    rss_end, cpu_end = _rss_mb(server_pid), _cpu_s(server_pid)
    for task in actors:
        task.cancel()
    await asyncio.gather(*(s.close() for s in students))

    return {
        "students": n,
        "seconds": round(t1 - t0, 1),
        "steps_per_s": round((s1 - s0) / (t1 - t0), 2),
        "server_cpu_share": None if cpu_start is None or cpu_end is None else round((cpu_end - cpu_start) / (t1 - t0), 2),
        "server_rss_mb_start": rss_before,  # before the students arrived
        "server_rss_mb_end": rss_end,
        "lab_open_p50_ms": pct(lab.page_loads_ms, 0.5),
        "lab_open_p95_ms": pct(lab.page_loads_ms, 0.95),
        "new_version_p95_ms": pct(lab.version_lags_ms, 0.95),
        "versions": len(lab.versions_seen),
        "first_visit_mb": round(max(lab.first_visit_bytes) / 1e6, 2) if lab.first_visit_bytes else None,
        "version_mb": round(max(lab.version_bytes) / 1e6, 2) if lab.version_bytes else None,
        "student_actions": lab.actions,
        "page_reruns": lab.page_reruns,
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "error_examples": stats.error_examples[:3],
        **in_chromium,
    }


def bench_students(counts: list[int], seconds: float, preset: str, warmup_steps: int = 200,
                   chromium: bool = False) -> Iterable[dict[str, Any]]:
    """For each class size: a fresh dashboard server, Start pressed, then `n` emulated students
    on the lab for `seconds` (with `chromium`, one real Chromium student beside them). Yields one
    result per size; `ratio_to_0` once 0 was measured."""
    for row in on_fresh_servers(counts, preset, "gan-app-students-", lambda url, n, pid: asyncio.run(
            _class_of(url, n, seconds, warmup_steps, pid, chromium))):
        start, end = row["server_rss_mb_start"], row["server_rss_mb_end"]
        row["server_rss_growth_mb"] = round(end - start, 1) if start and end else None
        yield row
