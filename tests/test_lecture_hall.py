"""One trainer, many servers: the class's run in its own process behind Redis, two dashboard
replicas showing it. Real parts: Debian's redis-server on a loopback port, `python -m gan_app
trainer`, two `streamlit run dashboard.py` with GAN_APP_BROKER, Chromium on each."""

import json
import os
import time
from pathlib import Path

import pytest

from gan_app.bench.browser import CHROMIUM, browser, live_step
from gan_app.bench.hall import REDIS, RedisServer, TrainerProcess
from gan_app.bench.proxy import NGINX, NginxProxy
from gan_app.broker.codec import snapshot_from, snapshot_parts, weights_bytes, weights_from

needs_proxy = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(REDIS).exists() and Path(NGINX).exists())
                                 and not os.environ.get("CI"),
                                 reason="needs Chromium, redis-server and nginx (apt-get install chromium redis-server nginx)")
needs_hall = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(REDIS).exists()) and not os.environ.get("CI"),
                                reason="needs Chromium and redis-server (apt-get install chromium redis-server)")


def test_a_snapshot_and_a_weights_copy_travel_whole():
    import numpy as np

    from gan_app.core.config import RunConfig
    from gan_app.lab.model import GeneratorWeights
    from gan_app.live.types import Snapshot

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
    from gan_app.core.errors import UsageError

    monkeypatch.setenv("GAN_APP_BROKER", "http://example.org")
    with pytest.raises(UsageError, match="redis://"):
        broker_url()
    assert main(["trainer", "--broker", "redis://127.0.0.1:1"]) == 2  # nothing listens there: one line, no traceback


needs_redis = pytest.mark.skipif(not Path(REDIS).exists() and not os.environ.get("CI"),
                                 reason="needs redis-server (apt-get install redis-server)")


@needs_redis
def test_replicas_share_the_presenters_view_and_the_labs_versions():
    from gan_app.broker.class_bus import BUNDLE, ClassBus
    from gan_app.broker.keys import connect
    from gan_app.runs.checkpoint import SHIPPED_EXPORT, open_export
    from gan_app.lab.bundle import Registry, bundle_from_export
    from gan_app.lab.presentation import encode_view
    from gan_app.classroom.feed import Announcer, LiveFeed

    with RedisServer() as redis:
        def replica():
            registry = Registry()
            announcer = Announcer(LiveFeed(lambda: None, registry))
            return registry, announcer, ClassBus(redis.url, announcer, registry).start()

        (reg_a, ann_a, bus_a), (reg_b, ann_b, bus_b) = replica(), replica()
        time.sleep(0.5)  # both listen
        key = bundle_from_export(open_export(SHIPPED_EXPORT), reg_a)
        reg_a.add(reg_a.get(key), make_generator=lambda: None)  # made on A (as a live copy is): shared
        assert reg_b.get(key).blob == reg_a.get(key).blob  # B serves it, checked against its key
        client = connect(redis.url)
        client.set(BUNDLE + "ab" * 10, client.get(BUNDLE + key))  # content that is not what its key says
        assert reg_b.get("ab" * 10) is None

        ann_a.presentation.start()
        view = {"key": key, "state": encode_view([0.5] * 64), "model": None}
        assert ann_a.presentation.lead(ann_a.presentation.token(), view)
        _wait(lambda: ann_b.presentation.current() == {"on": True, "view": view}, 10, "B never heard A's view")
        assert not ann_b.presentation.lead(ann_a.presentation.token(), view)  # A's token leads on A only
        bus_a.heard(json.dumps({"from": "elsewhere", "present": {"on": True, "view": {**view, "state": "!!"}}}))
        assert ann_a.presentation.current()["view"] == view  # a forged relay is checked again and dropped
        ann_a.presentation.stop()
        _wait(lambda: ann_b.presentation.current() == {"on": False, "view": None}, 10, "B never heard Present stop")
        for bus in (bus_a, bus_b):
            bus.stop()


@needs_redis
def test_replicas_share_the_class_drawings_numbered_once_and_checked_again():
    import numpy as np

    from gan_app.broker.class_bus import POINTS, ClassBus
    from gan_app.broker.keys import connect
    from gan_app.classroom.feed import Announcer, LiveFeed, LiveVersion
    from gan_app.lab.bundle import Registry
    from gan_app.lab.points import ClassPoints

    version = "ab12" * 5
    with RedisServer() as redis:
        def replica():
            registry = Registry()
            feed = LiveFeed(lambda: None, registry)
            points, heard = ClassPoints(), []
            points.listener = lambda v, listed: heard.append((v, [p["name"] for p in listed]))
            return points, heard, feed, ClassBus(redis.url, Announcer(feed), registry, points, feed).start()

        (points_a, _, feed_a, bus_a), (points_b, heard_b, feed_b, bus_b) = replica(), replica()
        time.sleep(0.5)  # both listen
        z = np.linspace(-1, 1, 64).astype(np.float32)
        assert points_a.share(version, "Ana", z, None, reads=3) == "Ana #1"
        assert points_b.share(version, "Ben", z, None) == "Ben #2"  # numbered once for the hall
        _wait(lambda: list(points_a.of(version)) == ["Ben #2", "Ana #1"], 10, "A never heard B's drawing")
        _wait(lambda: list(points_b.of(version)) == ["Ben #2", "Ana #1"], 10, "B never heard A's drawing")
        assert points_b.as_json(version)[1]["reads"] == 3 and heard_b  # B's open labs were told
        assert np.allclose(points_b.of(version)["Ana #1"][0], z, atol=1e-3)

        points_a.hide(version, "Ben #2")  # the presenter on A moderates: B's list follows
        _wait(lambda: list(points_b.of(version)) == ["Ana #1"], 10, "B still shows the hidden drawing")
        client = connect(redis.url)  # what a replica reads back is checked again, point by point
        for forged in ({"name": "Eve\u0000 #9", "z": [0.0] * 64, "digit": None, "reads": None},
                       {"name": "Eve #9", "z": [1e9] * 64, "digit": None, "reads": None},
                       {"name": "Eve #9", "z": [0.0] * 64, "digit": None, "reads": 42}):
            client.rpush(POINTS + version, json.dumps(forged))
        bus_b.heard(json.dumps({"from": "elsewhere", "points": version}))
        assert list(points_b.of(version)) == ["Ana #1"]

        late, _, _, bus_c = replica()  # a replica that starts mid-lesson reads the hall's list
        assert list(late.of(version)) == ["Ana #1"]
        points_a.clear(version)
        _wait(lambda: points_b.of(version) == {} and late.of(version) == {}, 10, "the list was not cleared everywhere")

        feed_a.on_copy(LiveVersion("cd34" * 5, 1500, 1, 1))  # A took a live copy: B takes its own on its next refresh
        _wait(lambda: feed_b._hall_step == 1500, 10, "B never heard of A's live copy")
        for bus in (bus_a, bus_b, bus_c):
            bus.stop()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@needs_hall
def test_replicas_share_one_trainer_through_faults(tmp_path):
    from gan_app.bench.server import DashboardServer
    from gan_app.broker.remote import RemoteTrainer
    from gan_app.runs.checkpoint import has_checkpoint

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

            # A lab on each replica draws the live run: one version for the hall, whichever replica took the copy.
            lab_a = chromium.new_page(viewport={"width": 1400, "height": 1000})
            lab_a.goto(a.url + "/lab")
            lab_b = chromium.new_page(viewport={"width": 1400, "height": 1000})
            lab_b.goto(b.url + "/lab")
            for lab in (lab_a, lab_b):
                lab.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=180_000)
            key_of = lambda lab: lab.locator("[data-lab='root']").get_attribute("data-key")  # noqa: E731
            _wait(lambda: key_of(lab_a) == key_of(lab_b), 60, "the replicas' labs drew different live versions")

            # The presenter's lab on A leads; the student's lab on B follows (the version comes through Redis).
            lab_a.get_by_text("Present: every student's lab follows mine").click()
            lab_a.locator("[data-lab='root'][data-present='leading']").wait_for(timeout=60_000)
            lab_b.locator("[data-lab='root'][data-present='following']").wait_for(timeout=180_000)
            lab_a.locator("[data-tab='SeFa']").click()
            lab_a.locator("[data-lab='SeFa-0']").fill("2.5")
            _wait(lambda: lab_b.locator("[data-lab='SeFa-0']").input_value() == "2.5", 60, "B's lab did not follow A's")
            assert lab_b.locator("[data-lab='root']").get_attribute("data-key") == \
                lab_a.locator("[data-lab='root']").get_attribute("data-key")
            lab_a.close()
            lab_b.close()

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


def _step(page) -> int:
    """The live panel's step, or -1 while the page is reconnecting (its panel not drawn yet)."""
    try:
        return live_step(page)
    except Exception:
        return -1


@needs_proxy
def test_a_killed_replicas_tabs_reconnect_to_another_behind_the_proxy(tmp_path):
    from gan_app.bench.server import DashboardServer
    from gan_app.broker.remote import RemoteTrainer

    with RedisServer() as redis, TrainerProcess(redis.url, tmp_path / "run", log_path=tmp_path / "trainer.log"):
        proxy = NginxProxy([], tmp_path / "nginx")  # its port first: the replicas are told it, as compose.yaml does
        env = {"GAN_APP_BROKER": redis.url, "GAN_APP_CHECKPOINTS": str(tmp_path / "checkpoints"),
               "STREAMLIT_BROWSER_SERVER_PORT": str(proxy.port)}  # the port tabs open: their sockets' origin
        a = DashboardServer(env=env, log_path=tmp_path / "a.log")
        b = DashboardServer(env=env, log_path=tmp_path / "b.log")
        proxy.replica_ports = [a.port, b.port]
        with a, b, proxy, browser() as chromium:
            watch = RemoteTrainer(redis.url)
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(proxy.url + "/train")  # the deploy's nginx.conf: sticky by address, websockets upgraded
            _wait(lambda: watch.online, 120, "the trainer never came online")
            page.get_by_role("button", name="Start", exact=True).click()
            _wait(lambda: _step(page) > 20, 120, "the tab never saw the run train through the proxy")

            a.proc.kill()  # the tab's replica may be A: then it moves to B; either way it is on B after this
            seen = _step(page)
            _wait(lambda: _step(page) > seen + 10, 120, "the tab did not go on after replica A died")
            a.__enter__()  # A is back (same port, as a restarted container)
            b.proc.kill()  # now the tab's replica surely dies: it reconnects through nginx to A, no reload
            seen = max(_step(page), watch.snapshot().step)
            _wait(lambda: _step(page) > seen + 10, 120, "the tab did not reconnect to replica A")
            page.get_by_role("button", name="Pause", exact=True).click()  # and its controls reach the trainer
            _wait(lambda: watch.snapshot().status == "paused", 60, "the reconnected tab's Pause did not reach the trainer")
            watch.close()
    assert "Traceback" not in (tmp_path / "a.log").read_text(errors="replace")
