"""The lab's routes beside the pages (st.App, as the live channel's): the page's JavaScript and
TensorFlow.js, each model version for the browser, and a websocket that tells open labs about
the live run's newest version and the class's drawings.

- `/lab/static/<version>/<file>`: gan_app/ui/lab/web (vendor/ included), gzip when the browser
  takes it; `<version>` is a hash of the files, so the URL is immutable and cached for a year.
- `/lab/model/<key>/manifest.json` and `weights.bin`: a bundle (gan_app.lab.bundle); `key` is
  a hash of its content, so a tab that has a version never fetches it again. Each is gzipped
  once, on its first request, and sent so to every tab that takes gzip.
  `towards.json`: the towards-a-digit directions, computed on first request, once per version.
- `/lab/socket?key=K&live=1`: pushes `{"live": {"key", "step"}}` when the lab's copy of the
  live run changes (to each tab at a random moment of ANNOUNCE_SPREAD_S, so a class does not
  fetch the new version all at once), and `{"class_points": [...]}` when the class's drawings
  for K change. A tab sends `{"key": K}` when it draws another version: small messages, a
  bounded number a minute, at most GAN_APP_SOCKETS_PER_CLIENT sockets from one address. The
  presenter's lab leads with `{"token", "lead"}` (gan_app.lab.presentation); Real or fake? travels
  on it too (`{"play": ...}`, `{"watch_game": token}`: gan_app/classroom/desk.py), one player a socket.

Every route also answers under Streamlit's `server.baseUrlPath` (gan_app/ui/url_base.py).

The live copy and the sockets' messages come from gan_app/classroom/feed.py.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from gan_app.lab.game import PLAYER
from gan_app.lab.bundle import Registry
from gan_app.classroom.feed import Announcer, LiveFeed
from gan_app.classroom.desk import GameDesk
from gan_app.ui.shared import SharedRenders
from gan_app.ui.socket_guard import CLOSE_POLICY, OPEN_CAPS, ConnectionCap, admitted, per_client_limit, receive_small
from gan_app.ui.static import IMMUTABLE, JAVASCRIPT, file_response
from gan_app.ui.url_base import routes_at_base

WEB = Path(__file__).resolve().parent / "web"
STATIC, MODELS, SOCKET = "/lab/static", "/lab/model", "/lab/socket"
MAX_LAB_SOCKETS = 300  # open labs at once (the live panel's sockets are counted apart)
KEY = re.compile(r"[0-9a-f]{1,64}")  # a bundle's key (gan_app.lab.browser_model): hex
MESSAGES_PER_MINUTE = 120  # what one lab socket may send (a tab sends one per model version it draws)
LEADER_PER_MINUTE = 1200  # the presenter's lab sends its view as it moves, at most 10 a second
MAX_LAB_MESSAGE = 6144  # bytes: the presenter's view, about 1-2 KB, with its token


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
        kind = "application/wasm" if path.suffix == ".wasm" else JAVASCRIPT
        files[name] = (data, gzip.compress(data, 6, mtime=0), kind)
    return digest.hexdigest()[:12], files


STATIC_VERSION, _FILES = _static_files()
STATIC_BASE = f"{STATIC}/{STATIC_VERSION}/"


_labeller: list[Any] = []
_labeller_lock = threading.Lock()


def _towards(registry: Registry, key: str) -> dict[str, Any] | None:
    """A version's towards-a-digit directions. The classifier is loaded once, whoever asks first:
    thirty tabs opening the tool together loaded it thirty times (+230 MB)."""
    from gan_app.lab.model import reference_labeller

    with _labeller_lock:
        if not _labeller:
            _labeller.append(reference_labeller())
    return registry.towards(key, _labeller[0])


def _encoded(registry: Registry, key: str, name: str, encoded: SharedRenders) -> tuple[bytes, bytes, str] | None:
    """A bundle's file (raw, gzipped, content type), compressed once for every tab that fetches
    it (kept in `encoded`); None for an unknown version."""
    bundle = registry.get(key)
    if bundle is None:
        return None

    def build() -> tuple[bytes, bytes, str]:
        if name == "manifest.json":
            data, kind = json.dumps(bundle.manifest, separators=(",", ":")).encode(), "application/json"
        else:
            data, kind = bundle.blob, "application/octet-stream"
        return data, gzip.compress(data, 6, mtime=0), kind

    return encoded.get(name, (key,), build)


def lab_routes(feed: LiveFeed, announcer: Announcer, registry: Registry,
               cap: ConnectionCap | None = None, desk: GameDesk | None = None) -> list[Any]:
    """The lab's routes, for st.App (under the server's base path too); at most `cap` open labs
    (by default MAX_LAB_SOCKETS, GAN_APP_SOCKETS_PER_CLIENT of them from one address). `desk`:
    the class's Real or fake? game (by default one for these routes)."""
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    cap = cap if cap is not None else ConnectionCap(MAX_LAB_SOCKETS, per_client_limit(), "open labs")
    desk = desk if desk is not None else GameDesk(feed, announcer, registry)
    encoded = SharedRenders(max_entries=24)  # (file, version) -> its bytes, raw and gzipped: two files of each version kept
    OPEN_CAPS["labs"] = cap

    async def static(request: Any) -> Any:
        if request.path_params["version"] != STATIC_VERSION:
            return PlainTextResponse("not found", status_code=404)
        found = _FILES.get(request.path_params["path"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        data, zipped, kind = found
        return file_response(data, zipped, kind, request, {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"})

    async def model(request: Any) -> Any:
        key, name = request.path_params["key"], request.path_params["name"]
        if registry.get(key) is None:
            return PlainTextResponse("this model version is no longer kept: reload the page", status_code=404)
        headers = {"Cache-Control": IMMUTABLE}
        if name in ("manifest.json", "weights.bin"):
            found = await asyncio.to_thread(_encoded, registry, key, name, encoded)
            if found is None:
                return PlainTextResponse("this model version is no longer kept: reload the page", status_code=404)
            data, zipped, kind = found
            return file_response(data, zipped, kind, request, headers)
        if name == "towards.json":
            towards = await asyncio.to_thread(_towards, registry, key)
            if towards is None:
                return PlainTextResponse("no generator on the server for this version", status_code=404)
            return JSONResponse(towards, headers=headers)
        return PlainTextResponse("not found", status_code=404)

    async def socket(websocket: WebSocket) -> None:
        async with admitted(websocket, cap) as ok:
            if not ok:
                return
            key = websocket.query_params.get("key", "")
            queue = announcer.subscribe(key if KEY.fullmatch(key) else "", websocket.query_params.get("live") == "1")

            async def send() -> None:
                while True:
                    await websocket.send_text(await queue.get())

            async def receive() -> None:
                sent: list[float] = []
                leads = False  # this lab has led the class: it may send a move every few frames
                player: str | None = None  # the one player of the game this socket plays as
                while (text := await receive_small(websocket, MAX_LAB_MESSAGE)) is not None:
                    now = time.monotonic()
                    sent = [t for t in sent if now - t < 60.0] + [now]
                    if len(sent) > (LEADER_PER_MINUTE if leads else MESSAGES_PER_MINUTE):
                        await websocket.close(code=CLOSE_POLICY, reason="too many messages")
                        return
                    try:
                        message = json.loads(text)
                    except ValueError:
                        continue
                    if not isinstance(message, dict):
                        continue
                    if "lead" in message:  # ignored unless it holds the presenter's token
                        leads = announcer.presentation.lead(message.get("token"), message["lead"]) or leads
                        continue
                    if "play" in message:
                        play = message["play"]
                        asked_player = play.get("player") if isinstance(play, dict) else None
                        if player is None and isinstance(asked_player, str) and PLAYER.fullmatch(asked_player):
                            player = asked_player  # the socket's one player from now on
                        if player is not None and asked_player == player:
                            await desk.turn(queue, player, play)
                        continue
                    if "watch_game" in message:
                        desk.watch(queue, message["watch_game"], player)
                        continue
                    asked = message.get("key", "")
                    if isinstance(asked, str) and KEY.fullmatch(asked):
                        announcer.follow(queue, asked)

            tasks = [asyncio.ensure_future(send()), asyncio.ensure_future(receive())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                announcer.unsubscribe(queue)
                desk.leave(queue)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    return routes_at_base(lambda prefix: [
        Route(prefix + STATIC + "/{version}/{path:path}", static), Route(prefix + MODELS + "/{key}/{name}", model),
        WebSocketRoute(prefix + SOCKET, socket)])
