"""End to end: a real `streamlit run dashboard.py` server, driven by Chromium through Playwright."""

import os
import time
from pathlib import Path

import pytest

from gan_app.e2e import CHROMIUM, DashboardServer, browser, goto_app, read_step

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def wait_until(predicate, timeout=90.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("browser never saw the expected state")


def grid_src(page):
    img = page.locator("[data-testid='stImage'] img").first
    return img.get_attribute("src") if img.count() else None


@pytest.fixture
def server(request):
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{request.node.name}.server.log"
    with DashboardServer(log_path=log) as srv:
        yield srv


def test_teacher_starts_a_run_and_a_second_tab_watches_it(server, request):
    with browser() as b:
        teacher = goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), server.url)
        pages = [teacher]
        try:
            assert read_step(teacher) == 0
            teacher.get_by_role("button", name="Start", exact=True).click()
            wait_until(lambda: read_step(teacher) > 0)
            first_grid = wait_until(lambda: grid_src(teacher))
            step_a = read_step(teacher)
            wait_until(lambda: read_step(teacher) > step_a + 20)
            wait_until(lambda: grid_src(teacher) not in (None, first_grid))  # the grid changes as G learns

            student = goto_app(b.new_page(viewport={"width": 1280, "height": 900}), server.url)
            pages.append(student)
            wait_until(lambda: read_step(student) > 0)  # the same run, not a new one
            assert abs(read_step(student) - read_step(teacher)) < 200
            assert student.get_by_role("button", name="Start", exact=True).is_disabled()  # it is running already

            teacher.get_by_role("button", name="Pause", exact=True).click()
            wait_until(lambda: "paused" in teacher.locator("[data-testid='stMetric']").filter(
                has=teacher.get_by_text("State", exact=True)).inner_text())
            time.sleep(2)  # let any refresh in flight land
            paused_at = read_step(teacher)
            time.sleep(3)
            assert read_step(teacher) == paused_at
            wait_until(lambda: read_step(student) == paused_at)
        except BaseException:
            for i, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-page{i}.png"), full_page=True)
            raise
