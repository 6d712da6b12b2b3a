"""One trainer, many servers: the class's run in its own process behind Redis, two dashboard
replicas showing it. Real parts: Debian's redis-server on a loopback port, `python -m gan_app
trainer`, two `streamlit run dashboard.py` with GAN_APP_BROKER, Chromium on each."""

import os
import time
from pathlib import Path

import pytest

from gan_app.bench.browser import CHROMIUM, browser, live_step
from gan_app.bench.hall import REDIS, RedisServer, TrainerProcess
from gan_app.broker.codec import snapshot_from, snapshot_parts, weights_bytes, weights_from

needs_hall = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(REDIS).exists()) and not os.environ.get("CI"),
                                reason="needs Chromium and redis-server (apt-get install chromium redis-server)")


def test_a_snapshot_and_a_weights_copy_travel_whole():
    import numpy as np

    from gan_app.config import RunConfig
    from gan_app.lab import GeneratorWeights
    from gan_app.live_types import Snapshot

    snap = Snapshot(version=7, status="running", message="hi", step=120, config=RunConfig(preset="wide", seed=3),
                    run_dir=Path("/tmp/run"), history_steps=np.arange(4.0), history=np.ones((4, 6)),
                    grid_png=b"\x89PNG...", grid_scores=(0.25, 0.5), frames=((20, b"a"), (40, b"b")),
                    quality_steps=np.array([100.0]), quality=np.array([[30.0, 5.0, 9.0]]), histogram=(0.1,) * 10,
                    slowmo={"index": 1, "image": b"png", "scores": [0.5]})
    back = snapshot_from(*snapshot_parts(snap))
    for field in ("version", "status", "message", "step", "config", "run_dir", "grid_png", "grid_scores", "frames",
                  "histogram", "slowmo"):
        assert getattr(back, field) == getattr(snap, field), field
    assert (back.history == snap.history).all() and (back.quality == snap.quality).all()
    w = GeneratorWeights("fast", 5, 2, 1, (np.ones((3, 2), np.float32), np.zeros(2, np.float32)), "normal", -1.0, 1.0,
                         (np.full(4, 2.0, np.float32),))
    copy = weights_from(weights_bytes(w))
    assert (copy.preset, copy.step, copy.run_id, copy.noise) == ("fast", 5, 1, "normal")
    assert all((a == b).all() for a, b in zip(copy.weights + copy.discriminator, w.weights + w.discriminator))


def test_a_broker_url_is_checked(monkeypatch):
    from gan_app.broker import broker_url
    from gan_app.cli import main
    from gan_app.errors import UsageError

    monkeypatch.setenv("GAN_APP_BROKER", "http://example.org")
    with pytest.raises(UsageError, match="redis://"):
        broker_url()
    assert main(["trainer", "--broker", "redis://127.0.0.1:1"]) == 2  # nothing listens there: one line, no traceback


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@needs_hall
def test_replicas_share_one_trainer_through_faults(tmp_path):
    from gan_app.bench.server import DashboardServer
    from gan_app.broker.remote import RemoteTrainer
    from gan_app.checkpoint import has_checkpoint

    run_dir = tmp_path / "run"
    with RedisServer() as redis, TrainerProcess(redis.url, run_dir, log_path=tmp_path / "trainer.log") as trainer:
        env = {"GAN_APP_BROKER": redis.url, "GAN_APP_CHECKPOINTS": str(tmp_path / "checkpoints")}
        with DashboardServer(env=env, log_path=tmp_path / "a.log") as a, \
                DashboardServer(env=env, log_path=tmp_path / "b.log") as b, browser() as chromium:
            watch = RemoteTrainer(redis.url)  # what any replica sees
            page_a = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page_b = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page_a.goto(a.url + "/train")
            page_b.goto(b.url + "/train")
            _wait(lambda: watch.online, 120, "the trainer never came online")
            page_a.get_by_role("button", name="Start", exact=True).click()  # on replica A...
            page_b.locator("[data-live='line']").first.wait_for(timeout=60_000)
            _wait(lambda: live_step(page_b) > 20, 120, "replica B never saw the run train")  # ...B sees it train
            first = page_b.locator("[data-live='grid']").first.get_attribute("src")
            _wait(lambda: page_b.locator("[data-live='grid']").first.get_attribute("src") != first, 30,
                  "B's grid never changed")

            page_b.get_by_role("button", name="Save checkpoint now").click()  # a command from B reaches the trainer
            _wait(lambda: watch.snapshot().checkpoint_step > 0, 60, "the checkpoint asked for on B was never saved")
            saved = watch.snapshot().checkpoint_step

            trainer.kill()  # the trainer crashes: every page says so and keeps the last state
            page_b.get_by_text("The trainer is offline").first.wait_for(timeout=10_000)
            page_a.get_by_text("The trainer is offline").first.wait_for(timeout=10_000)
            assert live_step(page_b) >= saved
            trainer.start()  # back: it goes on from the checkpoint, training, and the pages follow
            _wait(lambda: watch.online and watch.snapshot().status == "running", 120, "the restarted trainer did not resume")
            assert watch.snapshot().step >= saved
            page_b.get_by_text("The trainer is offline").first.wait_for(state="detached", timeout=30_000)
            resumed = live_step(page_b)
            _wait(lambda: live_step(page_b) > resumed + 10, 60, "B did not follow the restarted trainer")

            redis.stop()  # Redis restarts: trainer and replicas reconnect by themselves
            page_b.get_by_text("The trainer is offline").first.wait_for(timeout=15_000)
            redis.start()
            page_b.get_by_text("The trainer is offline").first.wait_for(state="detached", timeout=30_000)
            after = live_step(page_b)
            _wait(lambda: live_step(page_b) > after + 10, 60, "B did not follow the run after Redis restarted")
            page_b.get_by_role("button", name="Pause", exact=True).click()
            _wait(lambda: watch.snapshot().status == "paused", 30, "B's Pause did not reach the trainer")
            watch.close()
        for log in ("a.log", "b.log"):
            assert "Traceback" not in (tmp_path / log).read_text(errors="replace"), log
    assert "Traceback" not in (tmp_path / "trainer.log").read_text(errors="replace")
    assert has_checkpoint(run_dir)  # an ordinary run directory: `train --resume` or a dashboard can go on with it
