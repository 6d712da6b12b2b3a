"""An emulated browser tab for `bench --viewers`: what one student does to the server.

Each viewer does what Streamlit's frontend does in a real tab (read from Streamlit's own code
and checked against Chromium): GET / for the XSRF cookie, open the websocket `/_stcore/stream`
with the subprotocols ["streamlit", token], send a `rerun_script` BackMsg for the first page
run, then run every fragment's auto-rerun timer, sending `rerun_script` with the fragment's id,
`is_auto_rerun`, the widget states, the hashes of the cached messages and the page's script hash
on every tick, whether or not the previous run has finished. It GETs every image and download
URL the page shows and every script a component loads (plotly.js for the Train page's curves),
as the browser does, and keeps open the websocket the live panel's script opens (`/live/...` in
the component's data), which brings the grid, the numbers and the curves. Protobufs are the ones
that ship with streamlit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from gan_app.bench.http import emulated_address, http_get

FRAGMENT_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
RUN_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
# The tab offers the server the messages it saw in the last CACHE_OFFER_S seconds, and keeps
# each for CACHE_KEEP_S after it last saw it, so a reference always finds its message.
CACHE_OFFER_S = 10.0
CACHE_KEEP_S = 60.0


@dataclass
class ViewerStats:
    """What every viewer saw, pooled."""

    # a tab's numbers and curves brought up to date: pushed curves encoded -> received (the
    # Train page), or a part of a page that reruns by itself: request -> its run finished
    latencies_ms: list[float] = field(default_factory=list)
    live_lags_ms: list[float] = field(default_factory=list)  # live update encoded -> received by the tab
    trainer_lags_ms: list[float] = field(default_factory=list)  # the trainer made the snapshot -> received
    errors: Counter = field(default_factory=Counter)  # kind -> count
    error_examples: list[str] = field(default_factory=list)
    steps_seen: list[tuple[float, int]] = field(default_factory=list)  # (time, Step metric)
    image_gets: int = 0
    bytes_received: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_examples) < 10:
            self.error_examples.append(f"{kind}: {detail[:200]}")


def default_widget_state(kind: str, proto: Any) -> WidgetState | None:
    """The state the frontend reports for a widget nobody has touched: the value the server set
    (`set_value`, e.g. from session state), else the widget's default."""
    ws = WidgetState(id=proto.id)
    given = proto.set_value
    if kind == "checkbox":
        ws.bool_value = proto.value if given else proto.default
    elif kind == "number_input":  # whole numbers travel as doubles too
        if given:
            ws.double_value = proto.value
        elif proto.HasField("default"):
            ws.double_value = proto.default
        else:
            return None
    elif kind in ("radio", "selectbox"):
        if given:
            ws.string_value = proto.raw_value
        elif len(proto.options) and proto.HasField("default"):
            ws.string_value = proto.options[proto.default]
        else:
            return None
    elif kind == "slider":
        if len(proto.options):  # a select_slider
            values = list(proto.raw_value) if given else [proto.options[int(i)] for i in proto.default]
            ws.string_array_value.data[:] = values
        else:
            ws.double_array_value.data[:] = list(proto.value if given else proto.default)
    elif kind == "text_input":
        if not (given or proto.HasField("default")):
            return None
        ws.string_value = proto.value if given else proto.default
    elif kind == "multiselect":
        values = list(proto.raw_values) if given else [proto.options[i] for i in proto.default]
        ws.string_array_value.data[:] = values
    else:
        return None  # buttons send a trigger only when clicked
    return ws


@dataclass
class PageState:
    """What the frontend keeps of a page: its elements' widgets, metrics, URLs and cache."""

    widgets: dict[str, WidgetState] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # widget label -> widget id
    buttons: dict[str, str] = field(default_factory=dict)  # label -> widget id
    metrics: dict[str, str] = field(default_factory=dict)  # label -> shown value
    cache: dict[str, tuple[float, ForwardMsg]] = field(default_factory=dict)  # hash -> (time last seen, msg)
    page_script_hash: str = ""

    def cached_hashes(self) -> list[str]:
        now = time.monotonic()
        return [h for h, (seen, _) in self.cache.items() if now - seen < CACHE_OFFER_S]

    def forget_old(self) -> None:
        now = time.monotonic()
        for h in [h for h, (seen, _) in self.cache.items() if now - seen > CACHE_KEEP_S]:
            del self.cache[h]


class EmulatedViewer:
    """One browser tab on the dashboard."""

    opened = 0  # tabs made in this process: each gets its own client address

    def __init__(self, url: str, stats: ViewerStats, name: str = "viewer") -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.origin = f"http://{self.host}:{self.port}"
        self.stats, self.name = stats, name
        self.page = PageState()
        self.cookie = ""
        self._ws: Any = None
        self._timers: dict[str, asyncio.Task] = {}
        self._pending: list[float] = []  # send times of fragment reruns no run has picked up yet
        self._inflight: dict[str, list[float]] = {}  # run id -> the requests that run answers
        self._fetched: set[str] = set()
        self._live_path = ""
        self._live_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._run_done = asyncio.Event()
        self.measuring = False  # latencies and steps count only while measuring
        self.steps: list[int] = []  # every step the live socket showed this tab
        self.closed_by_us = False
        self.page_name = ""  # the page the tab opened by its URL ("lab" for /lab); "" for the first page
        EmulatedViewer.opened += 1
        self.address = emulated_address(EmulatedViewer.opened)  # each tab is its own client

    # ---- connection -----------------------------------------------------------------------
    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        status, headers, _ = await http_get(self.host, self.port, "/", forwarded_for=self.address)
        if status != 200:
            raise RuntimeError(f"GET / answered {status}")
        cookies = [c.split(";", 1)[0] for c in headers.get("set-cookie", "").splitlines() if c]
        self.cookie = "; ".join(cookies)
        token = next((c.split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf=")), "")
        self._ws = await connect(
            f"ws://{self.host}:{self.port}/_stcore/stream",
            subprotocols=["streamlit", token] if token else ["streamlit"],
            additional_headers={"Origin": self.origin, "Cookie": self.cookie, "X-Forwarded-For": self.address},
            max_size=None,
            compression=None,
            ping_interval=None,
        )
        self._spawn(self._receive())

    async def load_page(self, timeout: float = 60.0) -> None:
        """The first page run, as when a tab opens the app."""
        self._run_done.clear()
        await self._send_rerun()
        await asyncio.wait_for(self._run_done.wait(), timeout)

    async def click(self, label: str, timeout: float = 60.0) -> None:
        """Press a button as the frontend does: a full rerun with its trigger set."""
        if label not in self.page.buttons:
            raise RuntimeError(f"no button {label!r} on the page (have: {', '.join(self.page.buttons)})")
        self._run_done.clear()
        await self._send_rerun(trigger=self.page.buttons[label])
        await asyncio.wait_for(self._run_done.wait(), timeout)

    async def close(self) -> None:
        self.closed_by_us = True
        for task in list(self._timers.values()) + list(self._tasks):
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- sending --------------------------------------------------------------------------
    async def _send_rerun(self, fragment_id: str = "", trigger: str = "") -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page.page_script_hash
        if not self.page.page_script_hash:
            state.page_name = self.page_name
        state.widget_states.widgets.extend(self.page.widgets.values())
        if trigger:
            state.widget_states.widgets.append(WidgetState(id=trigger, trigger_value=True))
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        state.cached_message_hashes.extend(self.page.cached_hashes())
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        state.context_info.url = self.origin + "/"
        await self._ws.send(msg.SerializeToString())

    async def _timer(self, fragment_id: str, interval: float) -> None:
        # The frontend's setInterval: it fires whether or not the last run has finished.
        while True:
            await asyncio.sleep(interval)
            self._pending.append(time.perf_counter())
            try:
                await self._send_rerun(fragment_id)
            except Exception as exc:  # the connection went away
                if not self.closed_by_us:
                    self.stats.error("dropped session", f"{self.name}: {exc}")
                return

    # ---- receiving ------------------------------------------------------------------------
    async def _consume(self, opened: Any, handle: Callable[[Any], None], dropped: str, what: str) -> None:
        """Hand every message of the socket `opened` (an async context) to `handle` until it
        closes; a failure or a close the tab did not ask for counts as an error of kind `dropped`."""
        try:
            async with opened as socket:
                async for raw in socket:
                    self.stats.bytes_received += len(raw)
                    handle(raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.closed_by_us:
                self.stats.error(dropped, f"{self.name}: {type(exc).__name__}: {exc}")
            return
        if not self.closed_by_us:
            self.stats.error(dropped, f"{self.name}: the server closed {what}")

    async def _receive(self) -> None:
        def handle(raw: bytes) -> None:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            self._handle(msg)

        await self._consume(contextlib.nullcontext(self._ws), handle, "dropped session", "the websocket")

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.page.cache.get(msg.ref_hash)
            if cached is None:
                self.stats.error("cache miss", f"{self.name}: server referred to a message the tab never had")
                return
            self.page.cache[msg.ref_hash] = (time.monotonic(), cached[1])
            msg, kind = cached[1], "delta"
        elif msg.metadata.cacheable and msg.hash:
            self.page.cache[msg.hash] = (time.monotonic(), msg)
        if kind == "new_session":
            # A run starts: it answers every refresh request sent before it (merged ones too).
            self.page.page_script_hash = msg.new_session.page_script_hash
            self._inflight[msg.metadata.run.script_run_id] = self._pending
            self._pending = []
        elif kind == "delta":
            self._delta(msg)
        elif kind == "auto_rerun":
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            old = self._timers.pop(fid, None)
            if old:
                old.cancel()
            self._timers[fid] = self._spawn(self._timer(fid, interval))
        elif kind == "page_not_found":
            self.stats.error("page not found", f"{self.name}: {msg.page_not_found.page_name}")
        elif kind == "script_finished":
            self.page.forget_old()
            status = msg.script_finished
            answered = self._inflight.pop(msg.metadata.run.script_run_id, [])
            if status in (FRAGMENT_DONE, RUN_DONE):
                if self.measuring:
                    now = time.perf_counter()
                    self.stats.latencies_ms.extend((now - t) * 1000 for t in answered)
                if status == RUN_DONE:
                    self._run_done.set()
            else:  # cut short by a newer request: the next run answers these
                self._pending = answered + self._pending

    def _delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        kind = el.WhichOneof("type")
        if kind == "metric":
            self.page.metrics[el.metric.label] = el.metric.body
        elif kind == "imgs":
            self._fetch_all(img.url for img in el.imgs.imgs)
        elif kind == "download_button":
            self._fetch_all([el.download_button.url])
        elif kind == "bidi_component" and el.bidi_component.json:
            data = json.loads(el.bidi_component.json)
            if isinstance(data.get("plotly"), str):  # the script the component loads
                self._fetch_all([data["plotly"]])
            if data.get("numbers"):
                self._numbers(data["numbers"])
            path = data.get("path", "")
            if path.startswith("/live/") and path != self._live_path:  # the panel's script keeps one socket
                if self._live_task is not None:
                    self._live_task.cancel()
                self._live_path = path
                self._live_task = self._spawn(self._live(path))
        elif kind == "exception":
            self.stats.error("exception shown", f"{self.name}: {el.exception.type}: {el.exception.message}")
        elif kind == "button":
            self.page.buttons[el.button.label] = el.button.id
        elif kind in ("checkbox", "number_input", "radio", "selectbox", "slider", "text_input", "multiselect"):
            proto = getattr(el, kind)
            ws = default_widget_state(kind, proto)
            if ws is not None and proto.id not in self.page.widgets:
                self.page.widgets[proto.id] = ws
                self.page.labels[proto.label] = proto.id

    async def _live(self, path: str) -> None:
        """Hold the live panel's websocket open as its script does; time every update."""
        from websockets.asyncio.client import connect

        opened = connect(f"ws://{self.host}:{self.port}{path}",
                         additional_headers={"Origin": self.origin, "X-Forwarded-For": self.address},
                         max_size=None, compression=None, ping_interval=None)
        await self._consume(opened, lambda text: self._update(json.loads(text)), "dropped live socket", path)

    def _numbers(self, rows: list[list[str]]) -> None:
        """The Train page's status row ([label, value, help] each), as the page or the socket brings it."""
        self.page.metrics.update({label: value for label, value, _ in rows})

    def _update(self, update: dict[str, Any]) -> None:
        if update.get("kind") == "progress":  # the curves: how late they came is the tab's refresh
            if self.measuring:
                self.stats.latencies_ms.append((time.time() - update["sent"]) * 1000)
            return
        if update.get("numbers"):
            self._numbers(update["numbers"])
        self.steps.append(int(update["step"]))
        if self.measuring:
            self.stats.live_lags_ms.append((time.time() - update["sent"]) * 1000)
            if update.get("made"):
                self.stats.trainer_lags_ms.append((time.time() - update["made"]) * 1000)
            self.stats.steps_seen.append((time.perf_counter(), self.steps[-1]))

    def _fetch_all(self, urls: Iterable[str]) -> None:
        for url in urls:
            if not url or url.startswith("data:") or url in self._fetched:
                continue
            self._fetched.add(url)
            if len(self._fetched) > 512:
                self._fetched = set(list(self._fetched)[-256:])
            self._spawn(self._fetch(url))

    async def _fetch(self, url: str) -> None:
        path = urlsplit(url).path if url.startswith("http") else url
        if not path.startswith("/"):
            path = "/" + path
        try:
            status, _, body = await http_get(self.host, self.port, path, self.cookie, self.address)
        except OSError as exc:
            self.stats.error("fetch failed", f"{path}: {exc}")
            return
        self.stats.image_gets += 1
        self.stats.bytes_received += len(body)
        if status != 200:
            self.stats.error(f"HTTP {status}", path)
