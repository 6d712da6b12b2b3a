"""A small class of emulated browser tabs (what `bench --viewers` runs) on a real server."""

import asyncio
import time

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
