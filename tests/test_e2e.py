"""End to end: a real `streamlit run dashboard.py` server, driven by Chromium through Playwright."""

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from gan_app.bench.browser import CHROMIUM, browser, goto_app, live_grid_src, live_step, number_text, read_step
from gan_app.bench.server import DashboardServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def curve_names(page, figure):
    """The traces plotly.js drew in one of the Train page's figures; None before it drew any."""
    return page.locator(f"[data-p='{figure}']").evaluate("d => d.data ? d.data.map((t) => t.name) : null")


def wait_until(predicate, timeout=90.0, every=0.5, what="the expected state"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"the browser never saw {what} within {timeout:.0f} s")


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
            first_grid = wait_until(lambda: live_grid_src(teacher))
            step_a = live_step(teacher)
            wait_until(lambda: live_step(teacher) > step_a + 20)  # the live panel is pushed every second
            wait_until(lambda: live_grid_src(teacher) not in (None, first_grid))  # the grid changes as G learns
            # the curves are pushed too, drawn by plotly.js in the tab, and keep growing with no page run
            assert wait_until(lambda: curve_names(teacher, "loss"), what="the loss curves") == ["d_loss", "g_loss"]
            assert curve_names(teacher, "d_output") == ["D(x)", "D(G(z))"]
            drawn = teacher.locator("[data-p='root']").get_attribute("data-drawn")
            wait_until(lambda: teacher.locator("[data-p='root']").get_attribute("data-drawn") != drawn,
                       what="the curves drawn again")

            # a student opens the Train page by its own URL
            student = goto_app(b.new_page(viewport={"width": 1280, "height": 900}), server.url + "/train")
            pages.append(student)
            wait_until(lambda: read_step(student) > 0)  # the same run, not a new one
            wait_until(lambda: live_step(student) > 0, what="the student's live panel")
            steps = (live_step(student), live_step(teacher))
            assert abs(steps[0] - steps[1]) < 200, f"student and teacher at steps {steps}"
            assert student.get_by_role("button", name="Start", exact=True).is_disabled()  # it is running already

            teacher.get_by_role("button", name="Pause", exact=True).click()
            wait_until(lambda: number_text(teacher, "State") == "paused", what="State: paused")
            time.sleep(2)  # let any refresh in flight land
            paused_at = read_step(teacher)
            time.sleep(3)
            shown = (read_step(teacher), live_step(teacher))
            assert shown == (paused_at, paused_at), f"paused at {paused_at}, then shown {shown}"
            wait_until(lambda: read_step(student) == paused_at)
        except BaseException:
            for i, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-page{i}.png"), full_page=True)
            raise


def test_a_watching_tab_offers_the_controls_of_every_state_the_run_goes_through(server, request):
    """A tab's buttons are drawn by its page runs, and the live panel asks for one when the pushed
    run state differs from the drawn one. A page run may draw an older state than the push that
    asked for it (the run moved on meanwhile); the state it asked for then must still be asked
    for again when the run comes back to it. Here a stale push stands for that race."""
    pushed = {}  # the latest update of each run state the student's live socket brought
    sockets = []  # the student's live sockets, as the test's route holds them

    def route(ws):
        sockets.append(ws)
        upstream = ws.connect_to_server()

        def forward(message):
            update = json.loads(message) if isinstance(message, str) else {}
            if update.get("kind", "live") == "live":
                pushed[update.get("status")] = message
            ws.send(message)
        upstream.on_message(forward)

    with browser() as b:
        teacher = goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), server.url)
        student = b.new_page(viewport={"width": 1600, "height": 1100})
        student.route_web_socket(re.compile(r".*/live/socket.*"), route)
        goto_app(student, server.url + "/train")
        pages = [teacher, student]
        enabled = lambda page, name: page.get_by_role("button", name=name, exact=True).is_enabled()  # noqa: E731
        try:
            teacher.get_by_role("button", name="Start", exact=True).click()
            wait_until(lambda: enabled(student, "Pause"), what="the student's Pause enabled (running)")
            teacher.get_by_role("button", name="Pause", exact=True).click()
            wait_until(lambda: enabled(student, "Resume") and "paused" in pushed, what="the student's Resume (paused)")
            teacher.get_by_role("button", name="Resume", exact=True).click()
            wait_until(lambda: enabled(student, "Pause"), what="the student's Pause again (running)")
            sockets[-1].send(pushed["paused"])  # a late "paused": the page run it asks for draws "running"
            wait_until(lambda: "running" in student.locator("[data-live='line']").first.inner_text(),
                       what="the student's panel back to running")
            time.sleep(2)
            assert enabled(student, "Pause"), "the page run after the late push drew the running run"
            teacher.get_by_role("button", name="Pause", exact=True).click()  # really paused now: asked for again
            wait_until(lambda: enabled(student, "Resume"), timeout=30, what="the student's Resume after the second Pause")
            assert not enabled(student, "Pause")
        except BaseException:
            for i, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-page{i}.png"), full_page=True)
            raise


def test_a_restarted_server_resumes_the_saved_run(tmp_path, request):
    env = {"GAN_APP_CHECKPOINTS": str(tmp_path)}
    ARTIFACTS.mkdir(exist_ok=True)
    with DashboardServer(env=env, log_path=ARTIFACTS / f"{request.node.name}.1.log") as first, browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), first.url)
        try:
            page.get_by_role("button", name="Step both", exact=True).click()
            wait_until(lambda: read_step(page) == 1)
            page.get_by_role("button", name="Step both", exact=True).click()
            wait_until(lambda: read_step(page) == 2)
            page.get_by_role("button", name="Save checkpoint now", exact=True).click()
            wait_until(lambda: page.get_by_text("Checkpoint saved at step 2").count() > 0)
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-first.png"), full_page=True)
            raise
    # the first server is gone; a new one on the same checkpoints folder picks the run up
    with DashboardServer(env=env, log_path=ARTIFACTS / f"{request.node.name}.2.log") as second, browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), second.url)
        try:
            wait_until(lambda: read_step(page) == 2)
            wait_until(lambda: page.get_by_text("Resumed the saved run at step 2").count() > 0)
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-second.png"), full_page=True)
            raise


def test_a_cli_run_continues_in_the_dashboard(tmp_path, request):
    """GAN_APP_RUN=DIR opens a CLI run as the live run, paused at its last step, with its curves."""
    from gan_app.cli import main

    run = tmp_path / "cli-run"
    assert main(["train", "--steps", "30", "--batch-size", "16", "--quality-every", "10", "--quality-samples", "100",
                 "--out", str(run)]) == 0
    env = {"GAN_APP_CHECKPOINTS": str(tmp_path / "checkpoints"), "GAN_APP_RUN": str(run)}
    ARTIFACTS.mkdir(exist_ok=True)
    with DashboardServer(env=env, log_path=ARTIFACTS / f"{request.node.name}.log") as srv, browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1100}), srv.url)
        try:
            wait_until(lambda: page.get_by_text(f"Resumed the saved run in {run} at step 30").count() > 0,
                       what="the CLI run opened")
            wait_until(lambda: read_step(page) == 30, what="the Step number at the saved step")
            assert page.get_by_text("Latest: FID").count() == 1  # its quality history came along
            page.get_by_role("button", name="Resume", exact=True).click()
            wait_until(lambda: read_step(page) > 60, what="the run training on past step 60")
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise
    rows = (run / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows][:61] == list(range(61))  # the CLI run's own files go on


def test_d_scores_then_a_click_on_the_live_grid_explores_that_sample_in_the_lab(server, request):
    with browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1200}), server.url)
        try:
            page.get_by_role("button", name="Start", exact=True).click()
            wait_until(lambda: read_step(page) >= 60)
            page.get_by_role("button", name="Pause", exact=True).click()
            wait_until(lambda: number_text(page, "State") == "paused")
            grid = page.locator("[data-live='grid']")
            assert page.locator(".gan-cell").count() == 0  # D's scores are off by default
            page.get_by_text("Show what D thinks of each sample").click()
            wait_until(lambda: page.locator(".gan-cell").count() == 25, what="D's score on each of the 25 samples")
            scores = [float(s) for s in page.locator(".gan-cell span").all_inner_texts()]
            assert all(0.0 <= s <= 1.0 for s in scores)
            box = grid.bounding_box()  # row 3, column 4: sample 14, numbered row by row
            page.mouse.click(box["x"] + box["width"] * 3.5 / 5, box["y"] + box["height"] * 2.5 / 5)
            caption = page.locator("[data-lab='caption']")  # the lab draws in this tab
            caption.filter(has_text="sample 14 of the live grid").wait_for(timeout=120_000)
            assert urlparse(page.url).path.endswith("/lab")  # the lab writes its view after "#lab=" too
            main = page.locator("[data-lab='main']")
            before = main.evaluate("(c) => c.toDataURL()")
            page.locator("[data-tab='SeFa']").click()
            slider = page.locator("[data-lab='SeFa-0']")
            slider.focus()
            for _ in range(15):
                page.keyboard.press("ArrowRight")
            wait_until(lambda: main.evaluate("(c) => c.toDataURL()") != before, 60, what="the image move")
            # a click on a strip takes that sample: the last of direction 1's strip, at +3 sigma
            moved = main.evaluate("(c) => c.toDataURL()")
            strip = page.locator("[data-lab='strip-SeFa-0']")
            box = strip.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 6.5 / 7, box["y"] + box["height"] / 2)
            caption.filter(has_text="SeFa direction 1, sample 7").wait_for(timeout=60_000)
            wait_until(lambda: main.evaluate("(c) => c.toDataURL()") != moved, 60, what="the clicked sample")
            assert slider.input_value() == "0"  # the clicked image is the new point: directions start from 0
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise


def _draw(page, canvas, points):
    canvas.scroll_into_view_if_needed()  # the mouse draws only where the page shows the pad
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * points[0][0], box["y"] + box["height"] * points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=12)
    page.mouse.up()


def test_a_student_draws_a_seven_and_finds_it_in_latent_space(server, request):
    with browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1200}), server.url)
        try:
            page.get_by_role("link", name="Latent lab").click()
            page.locator("[data-lab='root'][data-ready='1']").wait_for(timeout=120_000)  # the lab above is drawn
            page.get_by_text("Your own digit").first.click()
            canvas = page.locator("canvas[data-canvas='pad'][data-ready='1']")
            canvas.wait_for(timeout=60_000)
            page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=60_000)
            _draw(page, canvas, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)])  # a 7: the bar, then the stem
            reads = page.locator("[data-testid='stMetric']").filter(has=page.get_by_text("Classifier reads"))
            reads.wait_for(timeout=60_000)
            assert reads.locator("[data-testid='stMetricValue']").inner_text().strip() == "7"
            page.get_by_role("button", name="Find in latent space").click()
            page.locator("[data-lab='caption']").filter(
                has_text="a student #1 (the drawing), found in latent space").wait_for(timeout=60_000)
            assert page.get_by_text("G(z) found: error").count() == 1
            assert page.get_by_text("found in this tab in").count() == 1  # the server did not search
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise


def test_a_teacher_adds_a_zip_of_images_as_a_dataset(server, request, tmp_path):
    import io
    import zipfile

    from PIL import Image, ImageDraw

    archive = tmp_path / "our-digits.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(70):
            image = Image.new("RGB", (90, 90), "white")
            ImageDraw.Draw(image).ellipse([20 + i % 9, 15, 70, 75], outline="black", width=8)
            buf = io.BytesIO()
            image.save(buf, "PNG")
            z.writestr(f"{i % 10}/{i}.png", buf.getvalue())
        z.writestr("notes.txt", "not an image")
    with browser() as b:
        page = goto_app(b.new_page(viewport={"width": 1600, "height": 1200}), server.url)
        try:
            page.get_by_text("Add your own images as a dataset").click()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(archive))
            page.get_by_text("70 images as the GAN will see them, labelled 0-9 by their folders").wait_for(timeout=60_000)
            page.get_by_text("Skipped: 1 not PNG or JPEG.").wait_for()
            idle = "[data-testid='stApp'][data-test-script-state='notRunning']"
            page.wait_for_selector(idle, timeout=60_000)  # clicks as a person does: once the page is drawn whole
            page.get_by_role("button", name="Add our-digits to the datasets").click()
            page.get_by_text("Added as our-digits (uploaded)").wait_for(timeout=60_000)
            assert (Path(server.env["GAN_APP_CHECKPOINTS"]) / "datasets" / "our-digits.npz").is_file()
            choice = page.get_by_role("combobox", name="Dataset")
            choice.click()
            choice.press_sequentially("our")
            page.get_by_role("option", name="our-digits (uploaded)").click()
            page.get_by_role("button", name="Apply settings and Reset").click()
            page.get_by_text("Reset: press Start to train with these settings.").wait_for(timeout=60_000)
            page.wait_for_selector(idle, timeout=60_000)
            page.get_by_role("button", name="Start", exact=True).click()
            wait_until(lambda: read_step(page) > 0, what="training on the uploaded images")
            assert page.locator(".gan-message.error").count() == 0
            assert page.get_by_role("combobox", name="Dataset").input_value() == "our-digits (uploaded)"
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise


def _live_sockets(page):
    """Every live socket the page opens: how many frames each has received."""
    sockets = []

    def opened(ws):
        if "/live/socket" in ws.url:
            entry = {"frames": 0}
            sockets.append(entry)
            ws.on("framereceived", lambda _: entry.__setitem__("frames", entry["frames"] + 1))

    page.on("websocket", opened)
    return sockets


def test_a_refused_live_panel_stops_retrying_and_says_why(request):
    """One live connection allowed: the teacher's tab takes it, a second tab is told the server is
    full, and a page whose name was rebound to this server (DNS rebinding) is never let in. Both
    give up after a few tries and say so."""
    from playwright.sync_api import sync_playwright

    from gan_app.bench.browser import CHROMIUM_ARGS
    from gan_app.ui.live.panel import MAX_REFUSED, RETRY_MS

    ARTIFACTS.mkdir(exist_ok=True)
    env = {"GAN_APP_LIVE_SOCKETS": "1"}
    with DashboardServer(env=env, log_path=ARTIFACTS / f"{request.node.name}.log") as srv, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP evil.example 127.0.0.1"])
        pages = []
        try:
            teacher = b.new_page(viewport={"width": 1600, "height": 1100})
            pages.append(teacher)
            teacher_sockets = _live_sockets(teacher)
            goto_app(teacher, srv.url)
            # (Playwright hands the page's events over while it waits, not while the test sleeps)
            wait_until(lambda: teacher.wait_for_timeout(100) or (teacher_sockets and teacher_sockets[0]["frames"] > 0),
                       what="the teacher's live socket")

            notice = "[data-live='notice']"
            student = b.new_page(viewport={"width": 1280, "height": 900})
            pages.append(student)
            student_sockets = _live_sockets(student)
            goto_app(student, srv.url)
            student.locator(notice).get_by_text("all 1 of the server's live connections are taken").wait_for(timeout=60_000)
            assert len(student_sockets) == MAX_REFUSED and all(s["frames"] == 0 for s in student_sockets)
            student.wait_for_timeout(RETRY_MS * (MAX_REFUSED + 1))
            assert len(student_sockets) == MAX_REFUSED  # it stopped trying

            rebound = b.new_page(viewport={"width": 1280, "height": 900})
            pages.append(rebound)
            rebound_sockets = _live_sockets(rebound)
            goto_app(rebound, f"http://evil.example:{srv.port}")  # Streamlit's own page still loads
            rebound.locator(notice).get_by_text("lost its connection").wait_for(timeout=60_000)
            assert len(rebound_sockets) == MAX_REFUSED and all(s["frames"] == 0 for s in rebound_sockets)
            assert teacher.locator(notice).is_hidden()
        except BaseException:
            for i, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-page{i}.png"), full_page=True)
            raise
        finally:
            b.close()
