"""`bench --students N --play`: N emulated students play Real or fake? while the run trains.

On a fresh dashboard server (no password: the tab that switches the game on hosts it), Start is
pressed, N emulated students open /lab as a tab does (gan_app/bench/students.py) and one more
tab, the presenter, switches "Real or fake?" on with the page's own switch; its lab then asks
for the class's curve over its socket. Each student plays as gan_app/ui/lab/web/game.js does: it is
dealt a card on its lab's socket, fetches the card's model version when it has not got it (the
tab draws the fake with it), answers about every ANSWER_EVERY_S seconds and is dealt the next.
Reported: the speed kept against the same bench's 0-student run, answers a second (counted by
the server's verdicts), how often the presenter's curve changed, the longest wait between two
of its updates, and errors (a refused answer counts as one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, Iterable

from gan_app.bench.students import EmulatedStudent, LabStats
from gan_app.bench.tab import ViewerStats
from gan_app.bench.viewers import _read_step, on_fresh_servers, start_training

GAME = "Real or fake?: the class plays against D"
ANSWER_EVERY_S = 2.0
PLAYER_HEX = "{:032x}"


class _Player(EmulatedStudent):
    """A student's lab playing the game (or, with `hosts`, the presenter's lab watching it)."""

    def __init__(self, *args: Any, index: int = 0, hosts: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.player = PLAYER_HEX.format(0xA11CE000 + index)
        self.hosts = hosts
        self.ws: Any = None
        self.answers = self.verdicts = 0
        self.curves: list[tuple[float, int]] = []  # (arrived, the curve's change count), as the presenter hears it
        self.playing = True

    async def _listen(self, data: dict[str, Any]) -> None:
        from websockets.asyncio.client import connect

        path = f"{data['socket']}?key={data['key']}&live={1 if data.get('live') else 0}"

        @contextlib.asynccontextmanager
        async def kept() -> Any:
            async with connect(f"ws://{self.host}:{self.port}{path}",
                               additional_headers={"Origin": self.origin, "X-Forwarded-For": self.address},
                               max_size=None, compression=None, ping_interval=None) as ws:
                self.ws = ws
                yield ws

        await self._consume(kept(), lambda text: self.lab_message(json.loads(text)), "dropped lab socket", path)

    def _send(self, message: dict[str, Any]) -> None:
        if self.ws is not None:
            self._spawn(self.ws.send(json.dumps(message)))

    def lab_message(self, message: dict[str, Any]) -> None:
        super().lab_message(message)
        if message.get("class_curve"):
            self.curves.append((time.perf_counter(), message["class_curve"]["changes"]))
        if self.hosts:
            return
        if (message.get("game") or {}).get("on") and self.playing:
            self._send({"play": {"player": self.player, "card": None, "real": None}})
        turn = message.get("turn")
        if turn is not None:
            self.verdicts += bool(turn.get("verdict"))
            if turn.get("refused"):
                self.stats.error("answer refused", f"{self.name}: {turn['refused']}")
            if turn.get("card") and self.playing:
                self._spawn(self._answer(turn["card"]))

    async def _answer(self, card: dict[str, Any]) -> None:
        """Look at the card (a fake is drawn with its version, fetched once), then answer."""
        if card.get("key"):
            await self._version(card["key"], None)
        await asyncio.sleep(self.rng.uniform(0.5, 1.5) * ANSWER_EVERY_S)
        real = self.rng.random() < (0.7 if "image" in card else 0.4)  # G fools a student now and then
        self.answers += 1
        self._send({"play": {"player": self.player, "card": card["id"], "real": real}})


async def _host(presenter: _Player) -> None:
    """The presenter switches the game on with its page's switch: its lab gets the game's token."""
    wid = presenter.page.labels.get(GAME)
    if wid is None:
        raise RuntimeError("the lab page offers no Real or fake? switch")
    presenter.page.widgets[wid].bool_value = True
    await presenter.load_page(timeout=120)
    token = presenter.components["lab"][1].get("game_token")
    if not token:
        raise RuntimeError("the presenter's lab was given no game token")
    for _ in range(600):  # its lab's socket, opened on its first visit, asks for the class's curve
        if presenter.ws is not None:
            break
        await asyncio.sleep(0.1)
    presenter._send({"watch_game": token})


async def _class_of(url: str, n: int, seconds: float, warmup_steps: int) -> dict[str, Any]:
    stats, lab = ViewerStats(), LabStats()
    await start_training(url, stats, warmup_steps)
    presenter = _Player(url, stats, lab, "presenter", seed=n, index=n, hosts=True)
    await presenter.connect()
    await presenter.load_page(timeout=120)
    await _host(presenter)  # its lab opens again with the token and watches the class
    students = [_Player(url, stats, lab, f"student {i}", seed=i, index=i) for i in range(n)]
    for i in range(0, n, 10):  # a class arrives over a few seconds
        batch = students[i : i + 10]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.gather(*(s.load_page(timeout=120) for s in batch))
    await asyncio.sleep(5.0)  # every student's first visit is over, and each holds a card
    v0 = sum(s.verdicts for s in students)
    c0 = len(presenter.curves)
    t0, s0 = await _read_step(url, stats)
    await asyncio.sleep(seconds)
    t1, s1 = await _read_step(url, stats)
    answers = sum(s.verdicts for s in students) - v0
    heard = presenter.curves[c0:]
    changed = [at for k, (at, changes) in enumerate(heard) if k == 0 or changes != heard[k - 1][1]]
    gaps = [b[0] - a[0] for a, b in zip(heard, heard[1:])]
    for s in students:
        s.playing = False
    await asyncio.gather(*(s.close() for s in [*students, presenter]))
    return {
        "students": n, "seconds": round(t1 - t0, 1), "steps_per_s": round((s1 - s0) / (t1 - t0), 2),
        "answers_per_s": round(answers / (t1 - t0), 2),
        "class_curve_updates_per_min": round(len(changed) * 60 / (t1 - t0), 1),
        "class_curve_longest_gap_s": round(max(gaps), 2) if gaps else None,
        "errors": sum(stats.errors.values()), "error_kinds": dict(stats.errors),
        "error_examples": stats.error_examples[:3],
    }


def bench_play(counts: list[int], seconds: float, preset: str, warmup_steps: int = 200) -> Iterable[dict[str, Any]]:
    """For each class size: a fresh server, Start pressed, `n` students playing Real or fake?
    for `seconds`. One row per size; `speed_kept` once the 0-student row was measured."""
    for row in on_fresh_servers(counts, preset, "gan-app-play-",
                                lambda url, n, pid: asyncio.run(_class_of(url, n, seconds, warmup_steps))):
        row["speed_kept"] = row.get("ratio_to_0")
        yield row
