"""The presenter leads the class's labs: the presenter's view reaches every following lab, a
student leaves and comes back, a tab opened mid-lesson joins where the presenter is, and only
the presenter's lab can lead (a student's forged "lead" is ignored)."""

import base64
import json
import os
from pathlib import Path

import pytest

from gan_app.lab.presentation import Presentation, checked_view

PASSWORD = "lead-the-class"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"  # no page run under way


def _state(z, tab="SeFa", sefa=(1.0, 0, 0, 0, 0)) -> str:
    view = {"v": 1, "z": list(z), "digit": None, "tab": tab, "where": "x", "alpha": {"SeFa": list(sefa), "PCA": [0] * 5},
            "towards": None, "amount": 0}
    return base64.urlsafe_b64encode(json.dumps(view).encode()).decode().rstrip("=")


def test_only_the_token_leads_and_only_checked_views_travel():
    presentation = Presentation()
    heard = []
    presentation.listener = heard.append
    move = {"key": "ab12", "state": _state([0.5] * 8), "model": "mnist5k-wide"}
    assert not presentation.lead(presentation.token(), move)  # Present is off
    presentation.start()
    token = presentation.token()
    assert not presentation.lead("a guess", move) and not presentation.lead(None, move)
    assert presentation.lead(token, move) and heard[-1] == move and presentation.current() == {"on": True, "view": move}
    for forged in [{**move, "key": "<b>"}, {**move, "state": "!!"}, {**move, "model": "../x"},
                   {**move, "state": _state([float("nan")] * 8)}, {**move, "state": _state([1e9] * 8)},
                   {**move, "state": _state([0] * 8, tab="<script>")}, {**move, "state": "A" * 5000}, "text", None]:
        assert checked_view(forged) is None and not presentation.lead(token, forged)
    presentation.stop()
    presentation.start()  # a new lesson: the old token leads no more
    assert not presentation.lead(token, move) and presentation.lead(presentation.token(), move)


from gan_app.bench.browser import CHROMIUM, browser  # noqa: E402

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason=f"no Chromium at {CHROMIUM}")


def _lab_ready(page) -> None:
    page.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=180_000)


def _slider(page, name: str) -> str:
    return page.locator(f"[data-lab='{name}']").input_value()


def _wait_slider(page, name: str, value: str, timeout_s: float = 30.0) -> None:
    """Wait until slider `name` shows `value` (the lab lives in the component's shadow root,
    which locators reach and document.querySelector does not)."""
    import time

    deadline = time.monotonic() + timeout_s
    while _slider(page, name) != value:
        assert time.monotonic() < deadline, f"{name} shows {_slider(page, name)}, not {value}"
        page.wait_for_timeout(100)


def _forge(port: int, key: str, state: str) -> None:
    """A student's script claims to lead, over a raw lab socket."""
    import time

    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/lab/socket?key={key}&live=0", open_timeout=30,
                 additional_headers={"Origin": f"http://127.0.0.1:{port}", "X-Forwarded-For": "203.0.113.9"}) as ws:
        for token in (None, "guess", "x" * 40):
            ws.send(json.dumps({"token": token, "lead": {"key": key, "state": state, "model": None}}))
        time.sleep(1.0)


def _share_a_drawing(url: str) -> None:
    """A student's tab (emulated, in its own thread: Playwright holds this one's event loop)
    draws, presses Find and shares the tab's answer."""
    import asyncio
    import threading

    from test_hostile_student import Tab, draw_a_one, found_answer

    async def share() -> None:
        tab = Tab(url, "203.0.113.30", "sharer")
        await tab.connect()
        await tab.load_page(timeout=180)
        await draw_a_one(tab)
        assert not any("refused" in a for a in await tab.answer(found_answer(64)))
        await tab.close()

    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(share())
        except BaseException as exc:  # raised again in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(240)
    if failed:
        raise failed[0]


def presenter_page(chromium, url: str, password: str):
    """The presenter's tab, in a browser context of its own, on the Train page, unlocked."""
    presenter = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    presenter.goto(url + "/train")
    presenter.get_by_label("Presenter password").fill(password)
    presenter.get_by_role("button", name="Unlock controls").click()
    presenter.get_by_text("Presenter controls unlocked").wait_for(timeout=60_000)
    return presenter


@needs_chromium
def test_every_lab_follows_the_presenter_and_a_student_can_leave_and_come_back(tmp_path):
    from gan_app.bench.server import DashboardServer

    with DashboardServer(env={"GAN_APP_PRESENTER_PASSWORD": PASSWORD}, log_path=tmp_path / "server.log") as server, \
            browser() as chromium:
        presenter = presenter_page(chromium, server.url, PASSWORD)
        presenter.get_by_role("link", name="Latent lab").click()
        _lab_ready(presenter)
        presenter.get_by_text("Present: every student's lab follows mine").click()
        presenter.locator("[data-lab='root'][data-present='leading']").wait_for(timeout=60_000)

        student = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        student.goto(server.url + "/lab")
        _lab_ready(student)
        student.locator("[data-lab='root'][data-present='following']").wait_for(timeout=60_000)
        assert student.locator("[data-lab='follow']").is_checked()

        presenter.locator("[data-tab='SeFa']").click()
        presenter.locator("[data-lab='SeFa-0']").fill("2.5")
        _wait_slider(student, "SeFa-0", "2.5")
        assert student.locator("[data-tab='SeFa']").get_attribute("class") == "on"  # the presenter's tool
        assert student.locator("[data-lab='caption']").inner_text() == presenter.locator("[data-lab='caption']").inner_text()

        # A student's script claims to lead: nobody follows it.
        key = presenter.locator("[data-lab='root']").get_attribute("data-key")
        followed = student.locator("[data-lab='root']").get_attribute("data-followed")
        _forge(server.port, key, _state([3.0] * 64, sefa=(-3, -3, 0, 0, 0)))
        assert student.locator("[data-lab='root']").get_attribute("data-followed") == followed
        assert _slider(student, "SeFa-0") == "2.5"

        # Exploring alone: the presenter's moves wait; following again shows where the presenter is.
        student.locator("[data-lab='follow']").uncheck()
        presenter.locator("[data-lab='SeFa-0']").fill("-1.5")
        presenter.wait_for_timeout(1500)
        assert _slider(student, "SeFa-0") == "2.5"
        student.locator("[data-lab='follow']").check()
        _wait_slider(student, "SeFa-0", "-1.5")

        # A tab that opens mid-lesson joins where the presenter is.
        late = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        late.goto(server.url + "/lab")
        _lab_ready(late)
        _wait_slider(late, "SeFa-0", "-1.5")

        presenter.get_by_text("Present: every student's lab follows mine").click()  # the lesson ends
        student.locator("[data-lab='root'][data-present='off']").wait_for(timeout=30_000)
        assert student.locator("[data-lab='follow']").is_hidden()

        # A student shares a drawing; the presenter puts it on every screen.
        _share_a_drawing(server.url)
        presenter.get_by_role("link", name="Train").click()
        presenter.get_by_role("link", name="Latent lab").click()
        presenter.get_by_text("The class's drawings (1)").click()
        presenter.wait_for_selector(IDLE, timeout=60_000)  # a click during the page's run can be lost in its redraw
        presenter.get_by_role("button", name="Spotlight it").click()
        student.locator("[data-lab='root'][data-spotlight='a student #1']").wait_for(timeout=30_000)
        assert student.locator("[data-lab='caption']").inner_text().startswith("spotlight: a student #1")
        late.locator("[data-lab='root'][data-spotlight='a student #1']").wait_for(timeout=30_000)
    assert "Traceback" not in (tmp_path / "server.log").read_text(errors="replace")
