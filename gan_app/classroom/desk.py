"""Real or fake? on the lab's socket (the game itself is gan_app/lab/game.py): a lab sends
`{"play": {"player", "card", "real"}}` to answer its card and get the next one (or with no card,
just the next), and hears `{"turn": {...}}` on its own socket only; the presenter's lab sends
`{"watch_game": token}` and then hears `{"class_curve": {...}}` every CURVE_S while the class's
answers change (and at least every CURVE_MAX_S). While the game is on, the desk keeps the live
copy fresh (the version fakes are drawn with) and measures D's accuracy on each new version once,
off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Callable

import numpy as np

from gan_app.lab.game import RealOrFake, Version, d_accuracy
from gan_app.lab.bundle import Registry
from gan_app.classroom.feed import Announcer, LiveFeed

CURVE_S = 2.0  # the class's curve reaches the presenter at most this often
CURVE_MAX_S = 4.0  # and at least this often (a tick is CURVE_S: so within 5 s) while the game is on
REALS = 1000  # real digits dealt (mnist5k: the thousand its classifier holds out)


class _Reals:
    """The real digits of the live run's dataset: uint8 (N, 784) for cards, in [0, 1] with
    their labels for D's accuracy. Loaded once per dataset."""

    def __init__(self, dataset: Callable[[], str | None]) -> None:
        self._dataset = dataset
        self._lock = threading.Lock()
        self._name: str | None = None
        self.x01 = np.zeros((0, 28, 28, 1), np.float32)
        self.labels: np.ndarray | None = None
        self.bytes = np.zeros((0, 784), np.uint8)

    def load(self) -> "_Reals":
        from gan_app.data.datasets import DEFAULT_DATASET, load_dataset

        name = self._dataset() or DEFAULT_DATASET
        with self._lock:
            if name != self._name:
                ds = load_dataset(name)
                if name == DEFAULT_DATASET:
                    from gan_app.models.classifier import split

                    pick = split(ds)[1]
                else:
                    pick = np.random.default_rng(0).permutation(len(ds))[:REALS]
                self.x01 = ds.x[pick]
                self.labels = None if ds.y is None else ds.y[pick]
                self.bytes = np.round(self.x01.reshape(len(pick), 784) * 255).astype(np.uint8)
                self._name = name
            return self


class GameDesk:
    """The game's side of the lab sockets: turns for players, the curve for the presenter."""

    def __init__(self, feed: LiveFeed, announcer: Announcer, registry: Registry,
                 game: RealOrFake | None = None) -> None:
        self.feed, self.announcer, self.registry = feed, announcer, registry
        self.reals = _Reals(self._dataset)
        self.game = game if game is not None else RealOrFake(lambda: self.reals.load().bytes)
        self.game.listener = self._switched
        announcer.extra_state["game"] = self.game.state
        self._watchers: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self.curves_sent = 0

    def _dataset(self) -> str | None:
        trainer = self.feed.trainer()
        return None if trainer is None else trainer.snapshot().config.dataset

    def version(self) -> Version | None:
        cur = self.feed.current
        bundle = self.registry.get(cur.key) if cur is not None else None
        if bundle is None:
            return None
        return Version(cur.key, cur.step, int(bundle.manifest.get("num_classes") or 0))

    def _switched(self, on: bool) -> None:
        self.announcer.broadcast({"game": self.game.state()})
        loop = self.announcer.loop
        if on and loop is not None:
            loop.call_soon_threadsafe(self._ensure_task)

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._keep())

    async def turn(self, queue: asyncio.Queue, player: str, message: Any) -> None:
        """A player's message: its answer checked, and its next card, to its own socket."""
        if not isinstance(message, dict):
            return
        out: dict[str, Any] = {}
        if message.get("card") is not None:
            out.update(self.game.answer(player, message.get("card"), message.get("real")))
            if "refused" in out and out["refused"] == "too fast":
                self.announcer.put(queue, json.dumps({"turn": out}))
                return
        if self.game.on and self.version() is None:  # no copy of the live run yet: take one
            await asyncio.to_thread(self.feed.refresh)
        if self.game.on:
            if self.reals.bytes.size == 0:  # the dataset's first load: off the event loop
                await asyncio.to_thread(self.reals.load)
            out.update(self.game.deal(player, self.version()))
        self._ensure_task()
        self.announcer.put(queue, json.dumps({"turn": out}))

    def watch(self, queue: asyncio.Queue, token: Any, player: str | None = None) -> bool:
        """The presenter's lab (it holds the game's token) hears the class's curve; if it was
        dealt a card before its page gave it the token, it is no player."""
        if not self.game.is_presenter(token):
            return False
        self.game.drop(player)
        self._watchers.add(queue)
        self.announcer.put(queue, json.dumps({"class_curve": self.game.curve()}))
        self._ensure_task()
        return True

    def leave(self, queue: asyncio.Queue) -> None:
        self._watchers.discard(queue)

    async def _keep(self) -> None:
        """While the game is on or the presenter watches: the live copy kept fresh, D measured
        on each new version, the curve to the presenter's labs when it changed."""
        sent, sent_at = -1, 0.0
        while self.game.on or self._watchers:
            if self.game.on:
                try:
                    await asyncio.to_thread(self.feed.refresh)
                    for key in self.game.unmeasured():
                        self.game.measured(key, await asyncio.to_thread(self._measure, key))
                except Exception as exc:  # tried again on the next tick
                    print(f"game: could not measure D: {exc}")
            curve = self.game.curve()
            now = time.monotonic()
            if curve["changes"] != sent or now - sent_at >= CURVE_MAX_S:
                text = json.dumps({"class_curve": curve})
                for queue in list(self._watchers):
                    self.announcer.put(queue, text)
                sent, sent_at = curve["changes"], now
                self.curves_sent += 1
            await asyncio.sleep(CURVE_S)

    def _measure(self, key: str) -> float | None:
        model = self.registry.generator(key)
        if model is None:
            return None
        reals = self.reals.load()
        return d_accuracy(model, reals.x01, reals.labels)

