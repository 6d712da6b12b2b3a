"""Render once, serve every viewer: shared figures and images, and the live channel."""

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gan_app.config import RunConfig
from gan_app.live import LiveTrainer
from gan_app.live_types import Snapshot
from gan_app.ui.common import get_trainer
from gan_app.ui.live_channel import LiveChannel, live_update, parse_every, same_origin
from gan_app.ui.shared import RENDERS, SharedRenders

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
    assert built["loss"] == 1 and built["d_output"] == 1 and built["grid_url"] == 1
    second.run()
    assert dict(RENDERS.builds) == built  # same snapshot: no figure rebuilt, no image re-encoded
    assert [c.proto.spec for c in first.get("plotly_chart")] == [c.proto.spec for c in second.get("plotly_chart")]
    trainer.step_once("both")
    trainer.wait_idle()
    second.run()
    first.run()
    after = dict(RENDERS.builds)
    assert after["loss"] == 2 and after["d_output"] == 2 and after["grid_url"] == 2  # once for the new snapshot


def test_the_live_channel_encodes_each_snapshot_once_and_sends_only_what_changed():
    trainer = LiveTrainer(RunConfig(preset="fast", batch_size=16))
    channel = LiveChannel(trainer.snapshot)
    try:
        trainer.step_once("both")
        trainer.wait_idle()

        async def take(n, every=0.5):
            stream, events = channel.stream(every), []
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
    finally:
        trainer.close()


def test_the_live_update_says_what_the_page_showed():
    snap = Snapshot(status="error", message="boom", step=1234, steps_per_s=31.25, run_id=5)
    update = live_update(snap)
    assert update["line"] == "step 1,234 · 31.2 steps/s · error"
    assert update["message_kind"] == "error" and "boom" in update["message"]
    assert update["grid"] is None and update["caption"] == ""
    assert parse_every("0.01") == 0.5 and parse_every("99") == 5.0 and parse_every("junk") == 1.0
    assert same_origin("http://class.local:8501", "class.local:8501") and same_origin(None, "x:1")
    assert not same_origin("https://elsewhere.example", "class.local:8501")


class _SlowRecordStep:
    """A real FusedStep whose every call also waits: the wall clock, not the compiled call, is
    what the page's steps/s must show."""

    def __new__(cls, preset, images, seed):
        from gan_app.step import FusedStep

        step = FusedStep(preset, images, seed)
        train = step.train

        def slow_train(n=1):
            rows = train(n)
            time.sleep(0.25)  # as long as a whole compiled call: a compiled-call rate would read twice too high
            return rows

        step.train = slow_train
        return step


def test_steps_per_second_comes_from_the_wall_clock():
    t = LiveTrainer(RunConfig(preset="fast", batch_size=8), build_step=_SlowRecordStep)
    try:
        t.start()
        deadline = time.monotonic() + 60
        while t.snapshot().step < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        s0, t0 = t.snapshot().step, time.monotonic()
        time.sleep(3)
        snap = t.snapshot()
        wall = (snap.step - s0) / (time.monotonic() - t0)
        assert snap.steps_per_s == pytest.approx(wall, rel=0.3)
        assert snap.images_per_s == pytest.approx(snap.steps_per_s * 8)
    finally:
        t.close()
