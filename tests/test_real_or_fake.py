"""Real or fake? on the real server in Chromium: the presenter starts the game while the run
trains, a student's lab is dealt cards (real digits, and fakes the tab draws with the live G),
the student's answers are scored on the server and reach the presenter's class curve, and a
script's forged answers count for nothing."""

import json
import os
import time
from pathlib import Path

import pytest

from gan_app.bench.browser import CHROMIUM, browser

PASSWORD = "play-the-discriminator"
GAME = "Real or fake?: the class plays against D"

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason=f"no Chromium at {CHROMIUM}")


def _forge(port: int, key: str) -> list[dict]:
    """A student's script on a raw lab socket: answers to cards it was never dealt, another
    player's id, wrong types, and its own card answered at once and twice."""
    from websockets.sync.client import connect

    heard = []
    with connect(f"ws://127.0.0.1:{port}/lab/socket?key={key}&live=1", open_timeout=30,
                 additional_headers={"Origin": f"http://127.0.0.1:{port}", "X-Forwarded-For": "203.0.113.50"}) as ws:
        me = "c" * 32
        for message in [{"play": {"player": me, "card": "0" * 16, "real": True}},
                        {"play": {"player": "d" * 32, "card": None}},  # a second player on one socket
                        {"play": {"player": me, "card": None, "real": None}}]:
            ws.send(json.dumps(message))
        deadline = time.monotonic() + 30
        while len([m for m in heard if "turn" in m]) < 2 and time.monotonic() < deadline:
            heard.append(json.loads(ws.recv(timeout=30)))
        card = [m for m in heard if "turn" in m][-1]["turn"]["card"]  # the one it holds now
        for real in [True, False, "yes"]:  # at once (too fast), again, then not an answer
            ws.send(json.dumps({"play": {"player": me, "card": card["id"], "real": real}}))
        while len([m for m in heard if "turn" in m]) < 5 and time.monotonic() < deadline:
            heard.append(json.loads(ws.recv(timeout=30)))
    return [{k: v for k, v in m["turn"].items() if k != "card"} for m in heard if "turn" in m]


@needs_chromium
def test_the_class_plays_and_the_presenter_sees_the_class_curve(tmp_path):
    from test_follow import presenter_page

    from gan_app.bench.browser import read_step
    from gan_app.bench.server import DashboardServer

    with DashboardServer(env={"GAN_APP_PRESENTER_PASSWORD": PASSWORD}, log_path=tmp_path / "server.log") as server, \
            browser() as chromium:
        presenter = presenter_page(chromium, server.url, PASSWORD)
        presenter.get_by_role("button", name="Start", exact=True).click()
        deadline = time.monotonic() + 120
        while read_step(presenter) == 0:
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.5)
        presenter.get_by_role("link", name="Latent lab").click()
        presenter.get_by_text("Live run", exact=True).click()
        presenter.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=180_000)

        student = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        student.goto(server.url + "/lab")
        student.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=180_000)
        assert student.get_by_text(GAME).count() == 0  # a student cannot start it
        assert student.locator("[data-lab='root']").get_attribute("data-game") == "off"

        presenter.get_by_text(GAME).click()
        presenter.locator("[data-lab='root'][data-game='watching']").wait_for(timeout=60_000)
        student.locator("[data-lab='root'][data-game='playing']").wait_for(timeout=60_000)
        answered = 0
        for _ in range(6):  # cards come one at a time: a real digit or a fake this tab draws
            student.locator("[data-lab='game-real']:not([disabled])").wait_for(timeout=60_000)
            assert student.locator("[data-lab='game-card']").get_attribute("data-drawn")
            student.wait_for_timeout(500)  # a human's pace
            student.locator("[data-lab='game-real']" if answered % 2 else "[data-lab='game-fake']").click()
            answered += 1
            student.locator(f"[data-lab='root'][data-game-score$='/{answered}']").wait_for(timeout=30_000)
        score = student.locator("[data-lab='game-score']").inner_text()
        assert score.startswith("Your score: ") and f"of {answered} right" in score
        assert student.locator("[data-lab='game-curve']").is_hidden()  # only the presenter sees the class's

        presenter.locator(f"[data-lab='root'][data-game-answers='{answered}']").wait_for(timeout=30_000)
        assert int(presenter.locator("[data-lab='game-curve']").get_attribute("data-points")) >= 1
        assert "1 playing, 6 answers" in presenter.locator("[data-lab='game-class']").inner_text()  # not the presenter

        key = presenter.locator("[data-lab='root']").get_attribute("data-key")
        turns = _forge(server.port, key)
        assert turns == [{"refused": "no such card"}, {}, {"refused": "too fast"}, {"refused": "too fast"},
                         {"refused": "not an answer"}], turns  # the second player's id was ignored
        presenter.wait_for_timeout(5000)  # none of it reached the class's curve
        assert presenter.locator("[data-lab='root']").get_attribute("data-game-answers") == str(answered)

        presenter.get_by_text(GAME).click()  # the game ends: no more cards
        student.locator("[data-lab='root'][data-game='off']").wait_for(timeout=30_000)
        assert student.locator("[data-lab='game-real']").is_disabled()
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")
