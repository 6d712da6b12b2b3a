"""Render once, serve every viewer: shared figures and images, and the live channel."""

import asyncio
import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_for
from streamlit.testing.v1 import AppTest

from gan_app.core.config import METRICS, RunConfig
from gan_app.live.trainer import LiveTrainer
from gan_app.live.types import Snapshot
from gan_app.ui.common import get_trainer
from gan_app.live import view as live_view
from gan_app.train.step import FusedStep
from gan_app.ui.live.channel import LiveChannel, live_update, parse_every
from gan_app.ui.live.progress import ChartView
from gan_app.ui.shared import RENDERS, SharedRenders
from gan_app.ui.socket_guard import ConnectionCap, origin_matches

MAIN = Path(__file__).resolve().parent.parent / "gan_app" / "ui" / "main.py"


def test_a_shared_render_is_built_once_per_key_even_when_asked_at_once():
    renders = SharedRenders(max_entries=4)
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.05)  # both viewers arrive while it is being built
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(renders.get("fig", (1, 7), build))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and got[0] is got[1]
    assert renders.get("fig", (1, 8), build) is not got[0] and len(calls) == 2  # a new snapshot builds anew
    for v in range(10):
        renders.get("fig", (2, v), object)
    assert len(renders._items) == 4  # bounded


@pytest.fixture
def two_viewers(monkeypatch):
    monkeypatch.delenv("GAN_APP_PRESENTER_PASSWORD", raising=False)
    RENDERS.clear()
    viewers = [AppTest.from_file(str(MAIN), default_timeout=60) for _ in range(2)]
    yield viewers
    get_trainer().close()


def test_a_second_viewer_of_the_same_snapshot_rebuilds_nothing_and_a_new_snapshot_does(two_viewers):
    first, second = two_viewers
    trainer = get_trainer()
    trainer.step_once("both")
    trainer.step_once("both")
    trainer.wait_idle()
    first.run()
    built = dict(RENDERS.builds)
    assert built["progress"] == 1 and built["grid_url"] == 1
    second.run()
    assert dict(RENDERS.builds) == built  # same snapshot: no figure rebuilt, no image re-encoded
    assert _curves(first) == _curves(second)
    trainer.step_once("both")
    trainer.wait_idle()
    second.run()
    first.run()
    after = dict(RENDERS.builds)
    assert after["progress"] == 2 and after["grid_url"] == 2  # once for the new snapshot


def _curves(at):
    panel = next(e for e in at.main if getattr(e, "type", "") == "bidi_component"
                 and e.proto.component_name == "gan_app.progress")
    return json.loads(panel.proto.json)["progress"]


@pytest.fixture
def stepped():
    """A real trainer that has taken one step, and a live channel on it."""
    trainer = LiveTrainer(RunConfig(preset="fast", batch_size=16))
    try:
        trainer.step_once("both")
        trainer.wait_idle()
        yield trainer, LiveChannel(trainer.snapshot)
    finally:
        trainer.close()


def _tab_for(channel, seconds, every, view, after):
    """What one tab's stream brings in `seconds`: (live updates, curve updates); `after(events)`
    runs after each."""
    events = []

    async def read():
        async for text in channel.stream(every, True, view):
            events.append(json.loads(text))
            after(events)

    async def take():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(read(), seconds)

    asyncio.run(take())
    return [e for e in events if "kind" not in e], [e for e in events if e.get("kind") == "progress"]


def test_the_live_channel_encodes_each_snapshot_once_and_sends_only_what_changed(stepped):
    trainer, channel = stepped

    async def take(n, every=0.5, grid=True):
        stream, events = channel.stream(every, grid), []
        async for text in stream:
            events.append(json.loads(text))
            if len(events) == n:
                await stream.aclose()
                return events
            trainer.step_once("both")  # a new snapshot between two ticks

    events = asyncio.run(take(2))
    encodes = channel.encodes
    assert [e["step"] for e in events] == [1, 2]
    assert events[0]["grid"].startswith("data:image/png;base64,") and events[0]["run"] == trainer.snapshot().run_id
    assert events[1]["grid"] is not None  # the grid changed with the step (paused: grid every step)
    for _ in range(5):
        channel.current()
    assert channel.encodes == encodes  # a hundred tabs on one snapshot: encoded once
    learn = asyncio.run(take(2, grid=False))  # the Learn page's tabs: losses, never the grid
    assert [e["grid"] for e in learn] == [None, None] and learn[1]["step"] == learn[0]["step"] + 1
    assert set(learn[1]["loss"]) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all("kind" not in e for e in events + learn)  # no curves unless asked for


def test_the_live_channel_pushes_the_curves_a_tab_asks_for_and_only_when_they_changed(stepped):
    trainer, channel = stepped
    view = ChartView(every=1.0, smoothing=0.9, parts=True)

    def once(events):  # new curves after the first, once
        if [e.get("kind") for e in events].count("progress") == 1 and events[-1].get("kind"):
            trainer.step_once("both")
    live, curves = _tab_for(channel, 3.2, 0.5, view, once)
    assert live and [n for n, _, _ in live[0]["numbers"]] == ["Step", "steps/s", "images/s", "Elapsed", "State", "Device"]
    assert len(curves) == 2  # at most once a second, and only when they changed (two snapshots)
    assert [t["name"] for t in curves[0]["loss"]["data"]] == ["d_loss", "g_loss", "d_loss_real", "d_loss_fake"]
    assert curves[0]["view"] == view.query() and curves[1]["sent"] >= curves[0]["sent"]
    assert curves[1]["loss"]["data"][0]["x"] != curves[0]["loss"]["data"][0]["x"]  # one step more


def test_curves_come_at_their_own_interval_when_the_grid_comes_less_often(stepped):
    """The grid slider at 5 s and the curves' at 1 s: the curves do not wait for the grid."""
    trainer, channel = stepped

    def step(events):  # the curves change before their next interval
        if events[-1].get("kind") == "progress":
            trainer.step_once("both")
    live, curves = _tab_for(channel, 3.5, 5.0, ChartView(every=1.0, smoothing=0.6, parts=False), step)
    assert len(curves) >= 3, [e.get("sent") for e in curves]  # about once a second
    assert 1 <= len(live) <= 2  # the first, and at most one 5-second tick within 3.5 s


def test_a_tab_cannot_ask_the_channel_for_curves_out_of_bounds():
    """The view comes from the socket's URL, which a student's script writes."""
    assert ChartView.from_query({}) is None  # the Learn page asks for none
    assert ChartView.from_query({"charts": "0.001", "smoothing": "5", "parts": "1"}) == ChartView(1.0, 0.99, True)
    assert ChartView.from_query({"charts": "1e9", "smoothing": "-3"}) == ChartView(10.0, 0.0, False)
    assert ChartView.from_query({"charts": "nan", "smoothing": "inf"}) == ChartView(2.0, 0.6, False)
    assert ChartView.from_query({"charts": "junk"}) == ChartView(2.0, 0.6, False)
    assert ChartView.from_query({"charts": "3", "smoothing": "0.61234"}).smoothing == 0.61  # few encodings per snapshot


def test_the_live_update_says_what_the_page_showed():
    snap = Snapshot(status="error", message="boom", step=1234, steps_per_s=31.25, run_id=5)
    update = live_update(snap)
    assert update["line"] == "step 1,234 · 31.2 steps/s · error"
    assert update["message_kind"] == "error" and "boom" in update["message"]
    assert update["grid"] is None and update["caption"] == ""
    assert parse_every("0.01") == 0.5 and parse_every("99") == 5.0 and parse_every("junk") == 1.0


class _Clock:
    """The clock the page's steps/s is read from, moved only by training."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_steps_per_second_comes_from_the_wall_clock(monkeypatch):
    """Each step takes 0.25 s of the clock the page reads, while the compiled call itself takes
    a few milliseconds: the page must show 4 steps/s, not the compiled call's hundreds."""
    clock = _Clock()
    monkeypatch.setattr(live_view, "time", clock)

    def slow_step(preset, images, seed):
        step = FusedStep(preset, images, seed)
        train = step.train

        def slow_train(n=1):
            rows = train(n)
            clock.now += 0.25 * n
            return rows

        step.train = slow_train
        return step

    t = LiveTrainer(RunConfig(preset="fast", batch_size=8), build_step=slow_step)
    try:
        t.start()
        wait_for(lambda: t.snapshot().steps_per_s > 0)  # two chunks trained: a rate to show
        snap = t.snapshot()
        assert snap.status == "running" and snap.step > 0
        assert snap.steps_per_s == pytest.approx(4.0)
        assert snap.images_per_s == pytest.approx(4.0 * 8)
    finally:
        t.close()


@pytest.fixture
def streamlit_options():
    """Set Streamlit options for one test, and put them back."""
    from streamlit import config

    saved = {}

    def set_option(name, value):
        saved.setdefault(name, config.get_option(name))
        config.set_option(name, value)

    yield set_option
    for name, value in saved.items():
        config.set_option(name, value)


def test_only_pages_of_this_server_may_open_the_live_socket(streamlit_options):
    lan, loop = ("192.168.1.20", 8501), ("127.0.0.1", 8501)
    assert origin_matches("http://192.168.1.20:8501", lan)  # a student's tab on the address it dialled
    assert origin_matches("http://192.168.1.20:8501", ("::ffff:192.168.1.20", 8501))  # the same, by IPv6
    assert origin_matches("http://localhost:8501", loop) and origin_matches("http://[::1]:8501", ("::1", 8501))
    assert origin_matches(f"http://{socket.gethostname()}:8501", lan)  # this machine by its name
    assert not origin_matches(None, loop) and not origin_matches("", loop)  # no Origin: not a page
    # DNS rebinding: a foreign page whose name now points here; its Host would agree with its Origin
    assert not origin_matches("http://evil.example:8501", lan) and not origin_matches("http://evil.example:8501", loop)
    assert not origin_matches("http://localhost:8501", lan)  # a page on the student's own machine
    assert not origin_matches("http://192.168.1.20:3000", lan)  # another server on this machine
    assert not origin_matches("null", loop) and not origin_matches("file://", loop)
    assert not origin_matches("http://192.168.1.20:99999", lan)  # malformed
    # names the operator gave the server
    assert not origin_matches("https://gan.school.example", lan)
    streamlit_options("server.allowedHosts", ["gan.school.example", "*.class.example"])
    assert origin_matches("http://gan.school.example:8501", lan) and origin_matches("http://a.class.example:8501", lan)
    assert not origin_matches("http://class.example.evil:8501", lan)
    streamlit_options("server.corsAllowedOrigins", ["https://proxy.example"])
    assert origin_matches("https://proxy.example", loop)  # listed whole, port and all


def test_a_connection_cap_admits_at_most_its_limit():
    cap = ConnectionCap(2)
    with cap.hold() as first, cap.hold() as second:
        with cap.hold() as third:
            assert (first, second, third) == (True, True, False) and cap.open == 2
        assert cap.open == 2  # a refused holder gave back nothing it did not take
    assert cap.open == 0
    with pytest.raises(RuntimeError):
        cap.release()
    with pytest.raises(ValueError):
        ConnectionCap(0)


def test_the_live_channel_makes_the_class_trainer_when_no_page_has(monkeypatch, tmp_path):
    """A tab left open while its server restarted reopens its live socket before any page run:
    the channel must not wait for one (nothing on the Train page reruns by itself)."""
    from gan_app.classroom.room import Classroom

    monkeypatch.setenv("GAN_APP_CHECKPOINTS", str(tmp_path))
    room = Classroom()
    try:
        channel = LiveChannel(room.snapshot)
        assert channel.current() is None  # no run yet: the trainer is being made, off the event loop
        wait_for(lambda: channel.current() is not None)
        assert room.current_trainer() is not None and channel.current()[0][0] == room.snapshot().run_id
    finally:
        room.close()


def test_a_run_gone_to_nan_still_reaches_every_tab_as_json_it_can_parse():
    """Python writes NaN into JSON, which a browser's JSON.parse refuses: the panel would freeze."""
    snap = Snapshot(step=3, run_id=1, history_steps=np.arange(3.0), history=np.full((3, len(METRICS)), np.nan),
                    history_version=1, quality_steps=np.array([250.0]), quality=np.array([[np.nan, np.inf, 0.0]]),
                    histogram=(float("nan"),) * 10)
    channel = LiveChannel(lambda: snap)

    def strict(text):
        return json.loads(text, parse_constant=lambda constant: pytest.fail(f"{constant} in the JSON"))

    assert strict(channel.current()[2])["loss"]["d_loss"] is None
    update = strict(channel.progress(ChartView())[1])
    assert update["fid"]["data"][0]["name"] == "FID" and update["histogram"]["data"][0]["y"][0] is None
    assert "FID nan" in update["fid_caption"]  # the caption says what was measured


def test_curves_that_cannot_be_built_leave_the_live_socket_open(monkeypatch, caplog):
    from gan_app.ui.live import channel as channel_module

    def broken(snap, view):
        raise ValueError("a figure nobody foresaw")

    monkeypatch.setattr(channel_module, "encoded_progress", broken)
    snap = Snapshot(step=7, run_id=3, history_steps=np.arange(2.0), history=np.zeros((2, len(METRICS))), history_version=1)
    channel = LiveChannel(lambda: snap)

    async def take():
        stream = channel.stream(0.5, True, ChartView(every=1.0))
        first = json.loads(await stream.__anext__())  # the live update still comes
        await stream.aclose()
        return first

    assert asyncio.run(take())["step"] == 7
    assert channel.progress(ChartView()) is None
    assert caplog.text.count("could not be encoded") == 1  # logged once per snapshot, not per tab and tick
