"""The lab's routes beside the pages (st.App, as the live channel's): the page's JavaScript and
TensorFlow.js, each model version for the browser, and a websocket that tells open labs about
the live run's newest version and the class's drawings.

- `/lab/static/<version>/<file>`: gan_app/ui/web (vendor/ included), gzip when the browser
  takes it; `<version>` is a hash of the files, so the URL is immutable and cached for a year.
- `/lab/model/<key>/manifest.json` and `weights.bin`: a bundle (gan_app.lab_bundle); `key` is
  a hash of its content, so a tab that has a version never fetches it again. Each is gzipped
  once, on its first request, and sent so to every tab that takes gzip.
  `towards.json`: the towards-a-digit directions, computed on first request, once per version.
- `/lab/socket?key=K&live=1`: pushes `{"live": {"key", "step"}}` when the lab's copy of the
  live run changes (to each tab at a random moment of ANNOUNCE_SPREAD_S, so a class does not
  fetch the new version all at once), and `{"class_points": [...]}` when the class's drawings
  for K change. A tab sends `{"key": K}` when it draws another version: small messages, a
  bounded number a minute, at most GAN_APP_SOCKETS_PER_CLIENT sockets from one address.

Every route also answers under Streamlit's `server.baseUrlPath` (gan_app/ui/url_base.py).

The live copy is taken by LiveFeed: every `every_steps` steps (a server-wide setting), or when
the presenter asks, and only while some lab is open; a copy costs one weights copy on the
training thread and one bundle, whoever is watching.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gan_app.lab_bundle import REGISTRY, Registry, bundle_from_live
from gan_app.ui.shared import SharedRenders
from gan_app.ui.socket_guard import (CLOSE_POLICY, OPEN_CAPS, ConnectionCap, client_address, origin_allowed,
                                     per_client_limit, receive_small, refuse)
from gan_app.ui.url_base import routes_at_base

WEB = Path(__file__).resolve().parent / "web"
STATIC, MODELS, SOCKET = "/lab/static", "/lab/model", "/lab/socket"
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_LAB_SOCKETS = 300  # open labs at once (the live panel's sockets are counted apart)
DEFAULT_EVERY_STEPS = 500
ANNOUNCE_SPREAD_S = 2.0  # a new live version reaches the open labs over this window, each at a random moment
KEY = re.compile(r"[0-9a-f]{1,64}")  # a bundle's key (gan_app.browser_model): hex
MESSAGES_PER_MINUTE = 120  # what one lab socket may send (a tab sends one per model version it draws)


def _static_files() -> tuple[str, dict[str, tuple[bytes, bytes | None, str]]]:
    """(version, {relative path: (bytes, gzipped bytes or None, content type)})."""
    files: dict[str, tuple[bytes, bytes | None, str]] = {}
    digest = hashlib.sha256()
    for path in sorted(WEB.rglob("*")):
        if not path.is_file() or path.suffix not in (".js", ".wasm"):
            continue
        data = path.read_bytes()
        name = path.relative_to(WEB).as_posix()
        digest.update(name.encode() + data)
        kind = "application/wasm" if path.suffix == ".wasm" else "text/javascript; charset=utf-8"
        files[name] = (data, gzip.compress(data, 6, mtime=0), kind)
    return digest.hexdigest()[:12], files


STATIC_VERSION, _FILES = _static_files()
_ENCODED = SharedRenders(max_entries=24)  # (file, version) -> its bytes, raw and gzipped: two files of each version kept
STATIC_BASE = f"{STATIC}/{STATIC_VERSION}/"


@dataclass(frozen=True)
class LiveVersion:
    key: str
    step: int
    run_id: int
    version: int


class LiveFeed:
    """The lab's copy of the live run: taken when it is `every_steps` behind, on request, or
    after a Reset; the same copy for every lab."""

    def __init__(self, trainer: Callable[[], Any], registry: Registry = REGISTRY) -> None:
        self._trainer = trainer
        self._registry = registry
        self._lock = threading.Lock()
        self.every_steps = DEFAULT_EVERY_STEPS
        self.current: LiveVersion | None = None
        self.copies = 0

    def refresh(self, force: bool = False) -> LiveVersion | None:
        """The newest copy, taken now if it is due (blocks: call from a thread, not the loop)."""
        from gan_app.latent import grid_latents

        trainer = self._trainer()
        if trainer is None:
            return None
        snap = trainer.snapshot()
        if snap.step == 0:
            return None
        with self._lock:
            cur = self.current
            due = (force or cur is None or cur.run_id != snap.run_id  # a Reset or another run opened
                   or (self.every_steps > 0 and snap.step - cur.step >= self.every_steps)
                   or self._registry.get(cur.key) is None)
            if not due:
                return cur
            weights = trainer.copy_generator()
            if weights is None:
                return cur
            preset = snap.config.preset_obj().replace(noise=weights.noise)
            key = bundle_from_live(weights, grid_latents(preset, snap.config.seed), self._registry)
            self.current = LiveVersion(key, weights.step, weights.run_id, weights.version)
            self.copies += 1
            return self.current


class Announcer:
    """The open labs' sockets: the live version and the class's drawings, pushed to each."""

    def __init__(self, feed: LiveFeed, spread_s: float = ANNOUNCE_SPREAD_S) -> None:
        self.feed = feed
        self.spread_s = spread_s
        self._spread = random.Random()
        self._subscribers: dict[asyncio.Queue, dict[str, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def subscribe(self, key: str, live: bool) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._subscribers[queue] = {"key": key, "live": live}
        self._loop = asyncio.get_running_loop()
        if live and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._watch_live())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.pop(queue, None)

    def follow(self, queue: asyncio.Queue, key: str) -> None:
        if queue in self._subscribers:
            self._subscribers[queue]["key"] = key

    def _put(self, queue: asyncio.Queue, message: str) -> None:
        if queue not in self._subscribers:  # left before a spread announcement reached it
            return
        if queue.full():  # a tab that reads nothing gets only what is newest
            queue.get_nowait()
        queue.put_nowait(message)

    async def _watch_live(self) -> None:
        shown: str | None = None
        while any(s["live"] for s in self._subscribers.values()):
            try:
                cur = await asyncio.to_thread(self.feed.refresh)
            except Exception as exc:  # a copy that failed is tried again on the next tick
                print(f"lab: could not copy the live weights: {exc}")
                cur = None
            if cur is not None and cur.key != shown:
                shown = cur.key
                text = json.dumps({"live": {"key": cur.key, "step": cur.step}})
                loop = asyncio.get_running_loop()
                for queue, sub in list(self._subscribers.items()):
                    if sub["live"]:  # spread over a short window: the tabs do not all fetch it at once
                        loop.call_later(self._spread.uniform(0.0, self.spread_s), self._put, queue, text)
            await asyncio.sleep(1.0)

    def class_points_changed(self, key: str, points: list[dict[str, Any]]) -> None:
        """From any thread: the class's drawings for model version `key` are now `points`."""
        loop = self._loop
        if loop is None:
            return
        text = json.dumps({"class_points": points})

        def push() -> None:
            for queue, sub in list(self._subscribers.items()):
                if sub["key"] == key:
                    self._put(queue, text)

        loop.call_soon_threadsafe(push)



_labeller: list[Any] = []
_labeller_lock = threading.Lock()


def _towards(registry: Registry, key: str) -> dict[str, Any] | None:
    """A version's towards-a-digit directions. The classifier is loaded once, whoever asks first:
    thirty tabs opening the tool together loaded it thirty times (+230 MB)."""
    from gan_app.lab import reference_labeller

    with _labeller_lock:
        if not _labeller:
            _labeller.append(reference_labeller())
    return registry.towards(key, _labeller[0])


def _encoded(registry: Registry, key: str, name: str) -> tuple[bytes, bytes, str] | None:
    """A bundle's file (raw, gzipped, content type), compressed once for every tab that fetches
    it; None for an unknown version."""
    bundle = registry.get(key)
    if bundle is None:
        return None

    def build() -> tuple[bytes, bytes, str]:
        if name == "manifest.json":
            data, kind = json.dumps(bundle.manifest, separators=(",", ":")).encode(), "application/json"
        else:
            data, kind = bundle.blob, "application/octet-stream"
        return data, gzip.compress(data, 6, mtime=0), kind

    return _ENCODED.get(name, (key,), build)


def _file_response(data: bytes, zipped: bytes | None, kind: str, request: Any, headers: dict[str, str]) -> Any:
    """`data` as it is, or gzipped once already where the browser takes gzip (Streamlit's own
    compression then leaves it alone: it has a Content-Encoding)."""
    from starlette.responses import Response

    headers = {**headers, "Vary": "Accept-Encoding"}
    if zipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        data = zipped
    return Response(data, media_type=kind, headers=headers)


def lab_routes(feed: LiveFeed, announcer: Announcer, registry: Registry = REGISTRY,
               cap: ConnectionCap | None = None) -> list[Any]:
    """The lab's routes, for st.App (under the server's base path too); at most `cap` open labs
    (by default MAX_LAB_SOCKETS, GAN_APP_SOCKETS_PER_CLIENT of them from one address)."""
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    cap = cap if cap is not None else ConnectionCap(MAX_LAB_SOCKETS, per_client_limit(), "open labs")
    OPEN_CAPS["labs"] = cap

    async def static(request: Any) -> Any:
        if request.path_params["version"] != STATIC_VERSION:
            return PlainTextResponse("not found", status_code=404)
        found = _FILES.get(request.path_params["path"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        data, zipped, kind = found
        return _file_response(data, zipped, kind, request, {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"})

    async def model(request: Any) -> Any:
        key, name = request.path_params["key"], request.path_params["name"]
        if registry.get(key) is None:
            return PlainTextResponse("this model version is no longer kept: reload the page", status_code=404)
        headers = {"Cache-Control": IMMUTABLE}
        if name in ("manifest.json", "weights.bin"):
            found = await asyncio.to_thread(_encoded, registry, key, name)
            if found is None:
                return PlainTextResponse("this model version is no longer kept: reload the page", status_code=404)
            data, zipped, kind = found
            return _file_response(data, zipped, kind, request, headers)
        if name == "towards.json":
            towards = await asyncio.to_thread(_towards, registry, key)
            if towards is None:
                return PlainTextResponse("no generator on the server for this version", status_code=404)
            return JSONResponse(towards, headers=headers)
        return PlainTextResponse("not found", status_code=404)

    async def socket(websocket: WebSocket) -> None:
        if not origin_allowed(websocket):
            await refuse(websocket)
            return
        client = client_address(websocket)
        with cap.hold(client) as admitted:
            if not admitted:
                await refuse(websocket, full=True, reason=cap.refusal(client) or "no slot is free")
                return
            await websocket.accept()
            key = websocket.query_params.get("key", "")
            queue = announcer.subscribe(key if KEY.fullmatch(key) else "", websocket.query_params.get("live") == "1")

            async def send() -> None:
                while True:
                    await websocket.send_text(await queue.get())

            async def receive() -> None:
                sent: list[float] = []
                while (text := await receive_small(websocket)) is not None:
                    now = time.monotonic()
                    sent = [t for t in sent if now - t < 60.0] + [now]
                    if len(sent) > MESSAGES_PER_MINUTE:
                        await websocket.close(code=CLOSE_POLICY, reason="too many messages")
                        return
                    try:
                        asked = json.loads(text).get("key", "")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(asked, str) and KEY.fullmatch(asked):
                        announcer.follow(queue, asked)

            tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(receive())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                announcer.unsubscribe(queue)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    return routes_at_base(lambda prefix: [
        Route(prefix + STATIC + "/{version}/{path:path}", static), Route(prefix + MODELS + "/{key}/{name}", model),
        WebSocketRoute(prefix + SOCKET, socket)])


def _current_trainer() -> Any:
    from gan_app.ui.common import current_trainer

    return current_trainer()


FEED = LiveFeed(_current_trainer)  # one for the server: every lab shares the live copy
ANNOUNCER = Announcer(FEED)
