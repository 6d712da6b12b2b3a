"""The live channel: the run's grid and status pushed to every open page, encoded once.

A browser tab that reran the page's Python every second to show the newest grid cost the run a
few percent of its speed per ten tabs (a fresh script thread, a dozen messages and their
wake-ups, every second, for every tab). Instead the live panel keeps one websocket open per tab
(`/live/socket`): the server encodes each update once and writes the same text to every tab
whose refresh interval is due, in one burst per interval. (A websocket, not server-sent events:
a browser keeps at most six HTTP connections to one server, so a seventh tab of a stream-per-tab
page would never load.) The route is part of the Streamlit app itself (`st.App` in
dashboard.py), so `streamlit run dashboard.py` still starts everything. Only pages of this
server may open it, at most MAX_SOCKETS at once (see gan_app/ui/socket_guard.py).

The Train page's numbers and curves travel on the same socket (gan_app/ui/live/progress.py): a
tab that asks for them (`charts=S&smoothing=A&parts=0|1`) is sent them every S seconds when they
changed, and the page loads plotly.js, from the pinned plotly package, from PLOTLY_PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable

from gan_app.core.config import METRICS
from gan_app.core.images import data_url
from gan_app.live.types import Snapshot
from gan_app.ui.live.progress import ChartView, compact_json, encoded_progress, finite, numbers
from gan_app.ui.shared import RENDERS
from gan_app.ui.static import PLOTLY_VERSION, plotly_js
from gan_app.ui.url_base import routes_at_base
from gan_app.ui.socket_guard import OPEN_CAPS, ConnectionCap, admitted, env_count, per_client_limit, receive_small

SOCKET_PATH = "/live/socket"
PLOTLY_PATH = f"/live/plotly-{PLOTLY_VERSION}.min.js"
MAX_SOCKETS = 200  # open live sockets at once, one per tab: a class of 100 twice over
MAX_SOCKETS_ENV = "GAN_APP_LIVE_SOCKETS"  # another cap for this server
MIN_EVERY_S, MAX_EVERY_S = 0.5, 5.0  # what a tab may ask for (the page's slider offers the same)
TICK_SLACK_S = 0.002  # a wake-up this close before a tick is at the tick (timers fire a little early)


def grid_source(snap: Snapshot) -> str:
    return "G's moving average" if snap.config.preset_obj().ema and snap.config.mode == "fused" else "G"


def grid_url(run_id: int, step: int, png: bytes) -> str:
    """A grid as a data: URL, built once for every viewer. It travels inside the update itself,
    so no tab can ask for an image that is already gone."""
    return RENDERS.get("grid_url", (run_id, step), lambda: data_url(png))


def latest_losses(snap: Snapshot, rows: int = 20) -> dict[str, float] | None:
    """The losses and D's mean outputs, each averaged over the latest `rows` iterations (one
    iteration's values jump too much to read); None before any training."""
    if not len(snap.history):
        return None
    recent = snap.history[-rows:]
    return {name: round(float(recent[:, i].mean()), 4) for i, name in enumerate(METRICS)}


def live_update(snap: Snapshot) -> dict[str, Any]:
    """What the live panel shows, as plain JSON values formatted for display (finite numbers only)."""
    if snap.status == "error":
        message = ("error", f"Training stopped with an error: {snap.message}")
    elif snap.message:
        message = ("warning" if snap.status in ("paused", "offline") else "info", snap.message)
    else:
        message = ("", "")
    update: dict[str, Any] = {
        "run": snap.run_id,
        "version": snap.version,
        "status": snap.status,
        "step": snap.step,
        "line": f"step {snap.step:,} · {snap.steps_per_s:.1f} steps/s · {snap.status}",
        "numbers": numbers(snap),  # the Train page's status row
        "message_kind": message[0],
        "message": message[1],
        "grid_step": snap.grid_step,
        "grid": None,
        "caption": "",
        "scores": list(snap.grid_scores),  # D's verdict on each grid sample, row by row
        "columns": snap.grid_columns,
        "rows": max(1, len(snap.grid_scores) // snap.grid_columns) if snap.grid_scores else 5,
        "sent": time.time(),  # wall clock: a viewer on this machine can tell how late it arrived
        "made": snap.made_at,  # when the trainer made it (behind a broker: in another process)
        "loss": latest_losses(snap),  # the Learn page's loss nodes and the marker on its curves
        "loss_kind": snap.config.preset_obj().loss,
        "slowmo": snap.slowmo,  # the latest sub-step of an iteration in slow motion, while not running
    }
    if snap.grid_png is not None:
        update["grid"] = grid_url(snap.run_id, snap.grid_step, snap.grid_png)
        update["caption"] = (f"samples at step {snap.grid_step:,} from {grid_source(snap)} (fixed noise batch), "
                             f"{dt.timedelta(seconds=int(snap.elapsed_s))} of training")
    return finite(update)


class LiveChannel:
    """Encodes the newest snapshot once per version and serves it to every stream."""

    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._encoded: tuple[tuple[int, int], str, str] | None = None  # (run, version), with grid, without
        self.encodes = 0  # how many updates were encoded (tests; the bench)
        self._failed: tuple[int, int] | None = None  # the snapshot whose curves failed, logged once

    def current(self) -> tuple[tuple[int, int], int, str, str] | None:
        """((run, version), grid step, update with the grid, without it); None before any trainer."""
        snap = self._snapshot()
        if snap is None:
            return None
        key = (snap.run_id, snap.version)
        with self._lock:
            if self._encoded is None or self._encoded[0] != key:
                update = live_update(snap)
                full = compact_json(update)
                update["grid"] = None  # the tab keeps the grid it has
                self._encoded = (key, full, compact_json(update))
                self.encodes += 1
            return self._encoded[0], snap.grid_step, self._encoded[1], self._encoded[2]

    def progress(self, view: ChartView) -> tuple[tuple, str] | None:
        """(what it depends on, the numbers-and-curves update as JSON) for `view`, encoded once
        for every tab with that view; None before any trainer."""
        snap = self._snapshot()
        if snap is None:
            return None
        try:
            key, _, text = encoded_progress(snap, view)
        except Exception:  # curves that cannot be drawn must not close every tab's live socket
            if self._failed != (snap.run_id, snap.history_version):
                self._failed = (snap.run_id, snap.history_version)
                logging.getLogger(__name__).exception("the curves of step %d could not be encoded", snap.step)
            return None
        return key, text

    async def stream(self, every: float, grid: bool = True, view: ChartView | None = None) -> AsyncIterator[str]:
        """One tab's updates: the newest at every multiple of `every` seconds (so tabs with the
        same interval are served in one burst), only when it changed, with the grid only when
        that changed (never, for a tab that shows no grid: `grid` False). With a `view`, the
        curves too, at every multiple of `view.every` seconds, when they changed: each at its
        own interval, whichever is shorter."""
        loop = asyncio.get_running_loop()
        sent_key, sent_grid, sent_progress = None, None, None
        live_due = progress_due = 0.0
        while True:
            now = loop.time() + TICK_SLACK_S
            if now >= live_due:
                live_due = _next_tick(now, every)
                current = self.current()
                if current is not None and current[0] != sent_key:
                    key, grid_step, full, light = current
                    sent_key = key
                    if grid and (key[0], grid_step) != sent_grid:
                        sent_grid = (key[0], grid_step)
                        yield full
                    else:
                        yield light
            if view is not None and now >= progress_due:
                progress_due = _next_tick(now, view.every)
                progress = self.progress(view)
                if progress is not None and progress[0] != sent_progress:
                    sent_progress = progress[0]
                    yield progress[1]
            wake = live_due if view is None else min(live_due, progress_due)
            await asyncio.sleep(max(0.0, wake - loop.time()))


def _next_tick(now: float, every: float) -> float:
    """The next multiple of `every` after `now`: tabs with the same interval wake together."""
    return (now // every + 1) * every


def parse_every(text: str | None, default: float = 1.0) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        value = default
    return min(MAX_EVERY_S, max(MIN_EVERY_S, value))


def socket_limit() -> int:
    """How many live sockets this server keeps open at once: GAN_APP_LIVE_SOCKETS, else MAX_SOCKETS."""
    return env_count(MAX_SOCKETS_ENV, MAX_SOCKETS)


def live_routes(channel: LiveChannel, cap: ConnectionCap | None = None) -> list[Any]:
    """The websocket route of the live channel, for st.App. Only pages of this server may open
    it (socket_guard.origin_allowed), and at most `cap.limit` sockets are open at once (by
    default GAN_APP_LIVE_SOCKETS, else MAX_SOCKETS): a tab over the cap is told so and its panel
    stops retrying. Beside it, plotly.js for the Train page's curves (PLOTLY_PATH)."""
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    slots = cap if cap is not None else ConnectionCap(socket_limit(), per_client_limit(), "live connections")
    OPEN_CAPS["live"] = slots

    async def socket(websocket: WebSocket) -> None:
        async with admitted(websocket, slots) as ok:
            if ok:
                await _serve(websocket, channel)

    async def _serve(websocket: WebSocket, channel: LiveChannel) -> None:
        every = parse_every(websocket.query_params.get("every"))
        grid = websocket.query_params.get("grid") != "0"  # the Learn page shows no grid
        view = ChartView.from_query(websocket.query_params)  # the Train page's curves

        async def send() -> None:
            async for text in channel.stream(every, grid, view):
                await websocket.send_text(text)

        async def until_closed() -> None:  # a tab sends nothing here; anything large closes it
            while await receive_small(websocket) is not None:
                pass

        tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(until_closed())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    plotly = plotly_js()
    return routes_at_base(lambda prefix: [WebSocketRoute(prefix + SOCKET_PATH, socket),
                                          Route(prefix + PLOTLY_PATH, plotly.response)])


@contextlib.asynccontextmanager
async def closing(stop: Callable[[], None]) -> AsyncIterator[None]:
    """st.App lifespan: on a server stop (Ctrl-C included) `stop` ends the training thread."""
    try:
        yield
    finally:
        stop()
