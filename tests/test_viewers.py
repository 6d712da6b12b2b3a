"""A small class of emulated browser tabs (what `bench --viewers` runs) on a real server, and who
may open its live socket."""

import asyncio
import time

import pytest

from gan_app.bench.server import DashboardServer
from gan_app.bench.tab import EmulatedViewer, ViewerStats


async def _watch(url: str, n: int, seconds: float):
    stats = ViewerStats()
    teacher = EmulatedViewer(url, stats, "teacher")
    await teacher.connect()
    await teacher.load_page()
    await teacher.click("Start")
    deadline = time.monotonic() + 120
    while not teacher.steps or teacher.steps[-1] < 20:  # the live panel streams to the teacher too
        assert time.monotonic() < deadline, "training never started"
        await asyncio.sleep(0.5)
    viewers = [EmulatedViewer(url, stats, f"viewer {i}") for i in range(n)]
    for v in viewers:
        await v.connect()
        await v.load_page()
        v.measuring = True
    await asyncio.sleep(seconds)
    probe = EmulatedViewer(url, stats, "probe")
    await probe.connect()
    await probe.load_page()
    for v in [teacher, probe, *viewers]:
        await v.close()
    return stats, viewers, probe


def test_emulated_tabs_all_watch_the_same_run_grow_and_no_request_fails(tmp_path):
    log = tmp_path / "server.log"
    with DashboardServer(env={"GAN_APP_CHECKPOINTS": str(tmp_path / "checkpoints")}, log_path=log) as server:
        stats, viewers, probe = asyncio.run(_watch(server.url, n=3, seconds=8))
    assert not stats.errors, stats.error_examples
    assert "Traceback" not in log.read_text(errors="replace")
    for v in viewers:
        assert v.steps[-1] > v.steps[0]  # each tab saw the steps grow
    last = [v.steps[-1] for v in viewers]
    assert max(last) - min(last) < 100  # one run, not three
    assert stats.live_lags_ms and stats.latencies_ms  # pushed updates arrived and page reruns finished
    # the tabs' widget states left the run's settings alone
    interval = probe.page.widgets[probe.page.labels["Sample grid every N steps"]]
    assert interval.double_value == 20


def test_the_class_and_nobody_watching_take_turns_on_one_server():
    """`bench --viewers N --alternate R`: R windows with the class, each between two without,
    each watched window compared with the two around it."""
    from gan_app.bench.viewers import bench_viewers

    (row,) = bench_viewers([0, 2], seconds=2, preset="fast", warmup_steps=5, alternate=1)  # a 0 is skipped
    assert row["viewers"] == 2 and row["errors"] == 0, row["error_examples"]
    windows = row["windows_steps_per_s"]
    assert len(windows["watched"]) == 1 and len(windows["unwatched"]) == 2
    assert all(speed > 0 for speed in windows["watched"] + windows["unwatched"])
    expected = windows["watched"][0] / (sum(windows["unwatched"]) / 2)
    assert abs(row["ratios"][0] - expected) < 0.01 and row["ratio_to_0"] == row["ratios"][0]
    assert row["live_updates"] > 0  # the tabs watched only inside their window, and were pushed updates


async def _open(port: int, origin: str | None, name: str = "127.0.0.1"):
    """A live socket to the server on 127.0.0.1 whose URL (and so its Host header) says `name`:
    with another name it is what a DNS-rebound page sends."""
    from websockets.asyncio.client import connect

    return await connect(f"ws://{name}:{port}/live/socket?every=0.5", host="127.0.0.1", port=port,
                         additional_headers={"Origin": origin} if origin else {}, open_timeout=30)


async def _admitted(socket) -> bool:
    """Whether the server kept the socket: one it turned away is closed before any pong."""
    from websockets.exceptions import ConnectionClosed

    try:
        await (await socket.ping())
        return True
    except ConnectionClosed:
        return False


async def _live_sockets(port: int) -> None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    own = f"http://127.0.0.1:{port}"
    for origin, name in [(None, "127.0.0.1"),  # not a page
                         (f"http://evil.example:{port}", "evil.example"),  # DNS rebinding: Host and Origin agree
                         (f"http://127.0.0.1:{port + 1}", "127.0.0.1")]:  # another server on this machine
        with pytest.raises(InvalidStatus) as refused:
            await _open(port, origin, name)
        assert refused.value.response.status_code == 403, origin
    first = await _open(port, f"http://localhost:{port}", "localhost")
    second = await _open(port, own)
    assert await _admitted(first) and await _admitted(second)
    third = await _open(port, own)  # the cap is 2: accepted only to be told why it is closed
    with pytest.raises(ConnectionClosed) as closed:
        await third.recv()
    assert closed.value.rcvd.code == 1013 and "all 2 of the server's live connections are taken" in closed.value.rcvd.reason
    await first.close()
    deadline = time.monotonic() + 30
    while True:  # the server frees the slot once it has seen the close
        again = await _open(port, own)
        if await _admitted(again):
            break
        assert time.monotonic() < deadline, "a closed socket never gave its slot back"
        await asyncio.sleep(0.2)
    await again.close()
    await second.close()


def test_the_live_socket_takes_only_this_servers_pages_and_at_most_its_cap(tmp_path):
    log = tmp_path / "server.log"
    env = {"GAN_APP_CHECKPOINTS": str(tmp_path / "checkpoints"), "GAN_APP_LIVE_SOCKETS": "2"}
    with DashboardServer(env=env, log_path=log) as server:
        asyncio.run(_live_sockets(server.port))
    assert "Traceback" not in log.read_text(errors="replace")
