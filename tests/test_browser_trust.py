"""What a class's tabs meet, in a real Chromium: the dashboard behind a proxy's prefix
(`server.baseUrlPath`, every route the app adds answers under it and the lab draws), each model
version compressed once and sent gzipped to every tab that takes it, new versions announced over
a short window, and a lab refused by a full server backing off, then stopping with a message."""

import gzip
import json
import os
import urllib.request
from pathlib import Path

import pytest

from gan_app.bench.browser import CHROMIUM, browser
from gan_app.bench.server import DashboardServer

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def _get(url: str, gzip_ok: bool) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read(), {k.lower(): v for k, v in response.headers.items()}


def test_under_a_base_path_the_lab_draws_and_its_files_are_gzipped_once(tmp_path):
    with DashboardServer(log_path=tmp_path / "server.log", base_path="gan") as server, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(server.url + "/lab")
        root = page.locator("[data-lab='root'][data-ready='1']")
        root.wait_for(timeout=180_000)  # its scripts, TensorFlow.js and the model came under /gan/
        key = root.get_attribute("data-key")
        own = [u for u in requests if "/lab/" in u]
        assert own and all("/gan/lab/" in u for u in own), own
        assert page.locator("canvas.lab-main").count() >= 1
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(server.url + "/train")
        page.locator("[data-live='empty']").wait_for(timeout=120_000)  # the live panel, before training
        for _ in range(100):
            if any("/gan/live/socket" in u for u in sockets):
                break
            page.wait_for_timeout(200)
        assert any("/gan/live/socket" in u for u in sockets), sockets  # its socket, under the prefix too

        models = f"{server.url}/lab/model/{key}/"
        for name in ("manifest.json", "weights.bin"):
            zipped, headers = _get(models + name, gzip_ok=True)
            assert headers.get("content-encoding") == "gzip" and "immutable" in headers["cache-control"]
            raw, plain = _get(models + name, gzip_ok=False)
            assert "content-encoding" not in plain and gzip.decompress(zipped) == raw
            again, _ = _get(models + name, gzip_ok=True)
            assert again == zipped  # the stored bytes, not a fresh compression (level or timestamp)
        assert json.loads(_get(models + "manifest.json", gzip_ok=False)[0])["key"] == key
        page.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")


def test_a_version_is_compressed_once_whoever_fetches_it(monkeypatch):
    from gan_app.runs.checkpoint import SHIPPED_EXPORT, open_export
    from gan_app.lab.bundle import Registry, bundle_from_export
    from gan_app.ui.lab import routes as lab_routes
    from gan_app.ui.shared import SharedRenders

    encoded = SharedRenders(max_entries=24)  # a server's
    registry = Registry()
    key = bundle_from_export(open_export(SHIPPED_EXPORT), registry)
    first = [lab_routes._encoded(registry, key, "weights.bin", encoded) for _ in range(5)]
    assert encoded.builds["weights.bin"] == 1 and all(f is first[0] for f in first)
    assert gzip.decompress(first[0][1]) == first[0][0] == registry.get(key).blob
    assert lab_routes._encoded(registry, "0" * 20, "weights.bin", encoded) is None


def test_a_new_live_version_reaches_the_labs_spread_over_a_short_window():
    import asyncio
    import time

    from gan_app.classroom.feed import Announcer, LiveVersion

    class Feed:
        def refresh(self):
            return LiveVersion("ab12", 500, 1, 1)

    async def run() -> list[float]:
        announcer = Announcer(Feed(), spread_s=1.0)
        queues = [announcer.subscribe("", live=True) for _ in range(30)]
        start = time.monotonic()

        async def arrival(queue) -> float:
            message = json.loads(await asyncio.wait_for(queue.get(), 10))
            while "present" in message:  # what every lab hears first: whether the presenter presents
                message = json.loads(await asyncio.wait_for(queue.get(), 10))
            assert message == {"live": {"key": "ab12", "step": 500}}
            return time.monotonic() - start

        times = await asyncio.gather(*(arrival(q) for q in queues))
        for q in queues:
            announcer.unsubscribe(q)
        return times

    times = asyncio.run(run())
    assert max(times) - min(times) > 0.3  # not every tab at the same instant
    assert max(times) < 5.0  # and every tab soon


def test_a_lab_refused_by_a_full_server_backs_off_and_stops_with_a_message():
    import threading
    import time

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from gan_app.bench.server import free_port
    from gan_app.runs.checkpoint import SHIPPED_EXPORT, open_export
    from gan_app.lab.bundle import Registry, bundle_from_export
    from gan_app.classroom.feed import Announcer, LiveFeed
    from gan_app.ui.lab.routes import MODELS, SOCKET, STATIC_BASE, lab_routes
    from gan_app.ui.socket_guard import ConnectionCap

    registry = Registry()
    key = bundle_from_export(open_export(SHIPPED_EXPORT), registry)
    cap = ConnectionCap(1, what="open labs")
    assert cap.try_acquire("another tab")  # the server is full
    tries = []
    original = cap.try_acquire
    cap.try_acquire = lambda client="": tries.append(client) or original(client)
    feed = LiveFeed(lambda: None, registry)
    routes = lab_routes(feed, Announcer(feed), registry, cap)
    routes.append(Route("/blank", lambda request: HTMLResponse("<!doctype html><div id=lab></div>")))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with browser() as chromium:
            page = chromium.new_page()
            page.goto(f"http://127.0.0.1:{port}/blank")
            page.evaluate("""async ([base, models, socket, key]) => {
                const lab = await import(base + "lab.js");
                lab.render(document.getElementById("lab"), { base, models, socket, key, step: 1, live: true,
                                                             point: null, class_points: [] });
            }""", [STATIC_BASE, MODELS + "/", SOCKET, key])
            page.locator("[data-socket='stopped']").wait_for(timeout=60_000)
            assert "the server's open labs are taken" in page.locator("[data-lab='status']").inner_text()
            stopped_at = len(tries)
            time.sleep(5.0)
            assert len(tries) == stopped_at == 4  # the first try and three retries, each after a longer wait
    finally:
        server.should_exit = True
        thread.join(10)
