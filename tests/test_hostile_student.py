"""A student with a script, against the real dashboard: everything is sent as a script would
send it (Streamlit's own protocol, raw websockets, X-Forwarded-For as a proxy on the server's
machine passes the client's address), and nothing of it reaches another student's tab, the
presenter lock or the server's files."""

import asyncio
import base64
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from gan_app.bench.find_burst import FIND
from gan_app.bench.server import DashboardServer
from gan_app.bench.students import EmulatedStudent, LabStats
from gan_app.bench.tab import ViewerStats
from gan_app.runs.checkpoint import SHIPPED_EXPORT
from gan_app.lab.points import NAME_CHARS
from gan_app.ui.socket_guard import CLOSE_TOO_BIG, CLOSE_TRY_LATER, SOCKETS_PER_CLIENT

PASSWORD = "the-teacher's"
EVIL, HONEST = "203.0.113.66", "203.0.113.20"  # documentation addresses: only ever a header's value


class Tab(EmulatedStudent):
    """An emulated tab that also keeps the page's alerts and which kinds of element it was sent."""

    def __init__(self, url: str, address: str, name: str, page: str = "lab") -> None:
        super().__init__(url, ViewerStats(), LabStats(), name, seed=0)
        self.address, self.page_name = address, page
        self.alerts: list[str] = []
        self.kinds: set[str] = set()

    def _delta(self, msg) -> None:
        super()._delta(msg)
        if msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            self.kinds.add(el.WhichOneof("type"))
            if el.WhichOneof("type") == "alert":
                self.alerts.append(el.alert.body)

    def type_into(self, label: str, text: str) -> None:
        self.page.widgets[self.page.labels[label]].string_value = text

    async def answer(self, found: dict) -> list[str]:
        """Press Find, then send `found` as the tab's answer to that request: the alerts shown."""
        await self.click(FIND, timeout=120)
        request = self.components["lab_find"][1]["request"]
        self.set_component("lab_find", {"found": {"request": request, **found}})
        self.alerts = []
        await self.load_page(timeout=120)
        return self.alerts


async def draw_a_one(tab: Tab) -> None:
    """The tab's canvas sends a drawing (a page run judges it), as a stroke's end does."""
    from gan_app.core.images import image_png

    digit = np.zeros((28, 28, 1), np.float32)
    digit[6:22, 12:16] = 1.0
    tab.set_component("canvas", {"png": "data:image/png;base64," + base64.b64encode(image_png(digit, scale=10)).decode()})
    await tab.load_page(timeout=180)


def found_answer(latent: int) -> dict:
    """A well-formed answer of the tab's Find."""
    return {"z": [0.1] * latent, "digit": None, "image": [0.5] * 784, "mse": 0.02, "seconds": 1.0}


async def _socket(port: int, key: str, address: str):
    from websockets.asyncio.client import connect

    return await connect(f"ws://127.0.0.1:{port}/lab/socket?key={key}&live=0", max_size=None, open_timeout=30,
                         additional_headers={"Origin": f"http://127.0.0.1:{port}", "X-Forwarded-For": address})


async def _closed_with(socket) -> tuple[int | None, str]:
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(10):
            while True:  # what the server says first (whether the presenter presents) is read past
                await socket.recv()
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
    except TimeoutError:
        return None, ""


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and "live" not in p.relative_to(root).parts}


async def _attack(url: str, port: int, checkpoints: Path) -> None:
    latent = json.loads((SHIPPED_EXPORT / "meta.json").read_text())["latent_dim"]
    honest = Tab(url, HONEST, "honest")
    await honest.connect()
    await honest.load_page(timeout=180)
    key = honest.components["lab"][1]["key"]  # the shipped model, drawn in the tab
    watching = await _socket(port, key, HONEST)  # what every other student's lab hears
    heard: list[dict] = []

    async def listen() -> None:
        async for text in watching:
            message = json.loads(text)
            if "class_points" in message:  # (a lab also hears whether the presenter presents)
                heard.append(message)

    listener = asyncio.ensure_future(listen())
    files = _tree(checkpoints)

    evil = Tab(url, EVIL, "evil")
    await evil.connect()
    await evil.load_page(timeout=180)
    await draw_a_one(evil)
    good = found_answer(latent)
    forged = [
        {**good, "z": [1e6] * 100_000},  # a megabyte of z
        {**good, "z": [math.nan] * latent},
        {**good, "z": [1e30] * latent},
        {**good, "digit": 7},  # the shipped wide model draws no chosen digit
        {**good, "image": [9.0] * 784},
        {**good, "image": "<img src=x onerror=alert(1)>"},
        "not an answer",
    ]
    for found in forged:
        alerts = await evil.answer(found) if isinstance(found, dict) else None
        if alerts is None:  # an answer that is no object at all is not even read as one
            await evil.click(FIND, timeout=120)
            evil.set_component("lab_find", {"found": found})
            await evil.load_page(timeout=120)
            continue
        assert any("answer was refused" in a for a in alerts), (found.keys(), alerts)
    await asyncio.sleep(1.0)
    assert not heard, heard[:1]  # nothing forged reached anyone

    evil.type_into("Your name, for the class's list of drawings", "\x00" + "<b>Mallory</b>" * 2000 + "\n")
    assert not any("refused" in a for a in await evil.answer(good))
    for _ in range(40):
        if heard:
            break
        await asyncio.sleep(0.25)
    points = heard[-1]["class_points"]
    assert len(points) == 1 and len(points[0]["name"]) <= NAME_CHARS + len(" #1")
    assert points[0]["name"].startswith("<b>Mallory</b>") and "\x00" not in points[0]["name"]
    assert len(points[0]["z"]) == latent and len(json.dumps(points)) < 2_000  # compact

    # A flood of sockets from one address: its share, and the class still gets in.
    flood = [await _socket(port, key, EVIL) for _ in range(SOCKETS_PER_CLIENT)]
    over = await _socket(port, key, EVIL)
    code, reason = await _closed_with(over)
    assert code == CLOSE_TRY_LATER and f"already has {SOCKETS_PER_CLIENT}" in reason
    other = await _socket(port, key, "203.0.113.21")
    await (await other.ping())  # another student's lab is admitted
    await flood[0].send("x" * 100_000)  # a huge message closes that socket
    assert (await _closed_with(flood[0]))[0] == CLOSE_TOO_BIG
    for s in flood[1:] + [other]:
        await s.close()

    # Guessing the presenter password from fresh sessions of one address: the count survives them.
    for attempt in range(4):
        guesser = Tab(url, EVIL, f"guesser {attempt}", page="")
        await guesser.connect()
        await guesser.load_page(timeout=180)
        assert "file_uploader" not in guesser.kinds  # no dataset upload without the password
        guesser.type_into("Presenter password", PASSWORD if attempt == 3 else f"guess {attempt}")
        guesser.alerts = []
        await guesser.click("Unlock controls", timeout=120)
        if attempt == 3:  # the right password, after three wrong ones from this address: not even checked
            assert any("Too many wrong presenter passwords" in a for a in guesser.alerts), guesser.alerts
        await guesser.close()
    teacher = Tab(url, HONEST, "teacher", page="")
    await teacher.connect()
    await teacher.load_page(timeout=180)
    teacher.type_into("Presenter password", PASSWORD)
    teacher.alerts = []
    await teacher.click("Unlock controls", timeout=120)
    assert any("Presenter controls unlocked" in a for a in teacher.alerts), teacher.alerts  # another address

    assert _tree(checkpoints) == files  # nothing written by any of it
    listener.cancel()
    for tab in (honest, evil, teacher):
        await tab.close()
    await watching.close()


def test_a_students_script_changes_nothing_another_student_sees(tmp_path):
    log = tmp_path / "server.log"
    with DashboardServer(env={"GAN_APP_PRESENTER_PASSWORD": PASSWORD}, log_path=log) as server:
        asyncio.run(_attack(server.url, server.port, Path(server.env["GAN_APP_CHECKPOINTS"])))
    assert "Traceback" not in log.read_text(errors="replace")
