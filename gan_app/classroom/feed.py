"""The latent lab's live side: the copy of the live run every lab draws (LiveFeed) and the open
labs' sockets (Announcer), which hear each new copy, the class's drawings and the presenter's
view (gan_app.lab.presentation). The routes that serve them are in gan_app/ui/lab/routes.py.

The live copy is taken by LiveFeed: every `every_steps` steps (a server-wide setting), or when
the presenter asks, and only while some lab is open; a copy costs one weights copy on the
training thread and one bundle, whoever is watching."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from gan_app.lab.bundle import Registry, bundle_from_live
from gan_app.lab.presentation import KEY, Presentation  # KEY: a model version's key

DEFAULT_EVERY_STEPS = 500
COPY_MIN_S, COPY_MAX_S = 10.0, 60.0  # a live copy for the labs: at most one every 10 s, at least one a minute
ANNOUNCE_SPREAD_S = 2.0  # a new live version reaches the open labs over this window, each at a random moment


@dataclass(frozen=True)
class LiveVersion:
    key: str
    step: int
    run_id: int
    version: int


class LiveFeed:
    """The lab's copy of the live run: taken when it is `every_steps` behind (but at most every
    `min_s` seconds: a GPU makes 500 steps in a second, and a copy costs a bundle; and at least
    every `max_s` seconds while the run trains: a slow CPU's class still sees it learn), on
    request, or after a Reset; the same copy for every lab."""

    def __init__(self, trainer: Callable[[], Any], registry: Registry, min_s: float = COPY_MIN_S,
                 max_s: float = COPY_MAX_S) -> None:
        self.trainer = trainer
        self._registry = registry
        self._lock = threading.Lock()
        self.every_steps = DEFAULT_EVERY_STEPS
        self.min_s, self.max_s = min_s, max_s
        self.current: LiveVersion | None = None
        self._taken_at = 0.0  # monotonic time of the current copy
        self.copies = 0
        self.on_copy: Callable[[LiveVersion], None] | None = None  # a lecture hall: tell the other replicas
        self._hall_step: int | None = None  # another replica's newest copy, by the run's step

    def copy_announced(self, step: int) -> None:
        """Another replica of the hall took a copy at `step`: this server takes one on its next
        refresh too (the trainer hands both the same weights, so both serve the same version)."""
        self._hall_step = step

    def refresh(self, force: bool = False) -> LiveVersion | None:
        """The newest copy, taken now if it is due (blocks: call from a thread, not the loop)."""
        from gan_app.core.latent import grid_latents

        trainer = self.trainer()
        if trainer is None:
            return None
        snap = trainer.snapshot()
        if snap.step == 0:
            return None
        with self._lock:
            cur = self.current
            age = time.monotonic() - self._taken_at
            behind = cur is not None and snap.step > cur.step and self.every_steps > 0
            hall, self._hall_step = self._hall_step, None
            due = (force or cur is None or cur.run_id != snap.run_id  # a Reset or another run opened
                   or (hall is not None and hall > cur.step)
                   or (behind and snap.step - cur.step >= self.every_steps and age >= self.min_s)
                   or (behind and age >= self.max_s)
                   or self._registry.get(cur.key) is None)
            if not due:
                return cur
            weights = trainer.copy_generator()
            if weights is None:
                return cur
            preset = snap.config.preset_obj().replace(noise=weights.noise)
            key = bundle_from_live(weights, grid_latents(preset, snap.config.seed), self._registry)
            self.current = LiveVersion(key, weights.step, weights.run_id, weights.version)
            self._taken_at = time.monotonic()
            self.copies += 1
            if self.on_copy is not None and (cur is None or cur.key != key):
                self.on_copy(self.current)
            return self.current


class Announcer:
    """The open labs' sockets: the live version, the class's drawings, the presenter's view and
    spotlights, pushed to each."""

    def __init__(self, feed: LiveFeed, spread_s: float = ANNOUNCE_SPREAD_S,
                 presentation: Presentation | None = None) -> None:
        self.feed = feed
        self.presentation = presentation if presentation is not None else Presentation()
        self.presentation.listener = self.present_changed
        self.spread_s = spread_s
        self._spread = random.Random()
        self._subscribers: dict[asyncio.Queue, dict[str, Any]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.extra_state: dict[str, Callable[[], Any]] = {}  # more of what a lab hears first (the game's state)
        self.relay_spotlight: Callable[[dict[str, Any]], None] | None = None  # to other servers of a hall
        self._task: asyncio.Task | None = None

    def subscribe(self, key: str, live: bool) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._subscribers[queue] = {"key": key, "live": live}
        self.loop = asyncio.get_running_loop()
        if live and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._watch_live())
        first = {"present": self.presentation.current(), **{name: state() for name, state in self.extra_state.items()}}
        self.put(queue, json.dumps(first))  # a tab opened mid-lesson joins in
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.pop(queue, None)

    def follow(self, queue: asyncio.Queue, key: str) -> None:
        if queue in self._subscribers:
            self._subscribers[queue]["key"] = key

    def put(self, queue: asyncio.Queue, message: str) -> None:
        if queue not in self._subscribers:  # left before a spread announcement reached it
            return
        if queue.full():  # a tab that reads nothing gets only what is newest
            queue.get_nowait()
        queue.put_nowait(message)

    async def _watch_live(self) -> None:
        shown: str | None = None
        while any(s["live"] for s in self._subscribers.values()):
            try:
                cur = await asyncio.to_thread(self.feed.refresh)
            except Exception as exc:  # a copy that failed is tried again on the next tick
                print(f"lab: could not copy the live weights: {exc}")
                cur = None
            if cur is not None and cur.key != shown:
                shown = cur.key
                text = json.dumps({"live": {"key": cur.key, "step": cur.step}})
                loop = asyncio.get_running_loop()
                for queue, sub in list(self._subscribers.items()):
                    if sub["live"]:  # spread over a short window: the tabs do not all fetch it at once
                        loop.call_later(self._spread.uniform(0.0, self.spread_s), self.put, queue, text)
            await asyncio.sleep(1.0)

    def broadcast(self, message: dict[str, Any], key: str | None = None) -> None:
        """From any thread: `message` to every open lab (of model version `key` only, if given)."""
        loop = self.loop
        if loop is None:
            return
        text = json.dumps(message)

        def push() -> None:
            for queue, sub in list(self._subscribers.items()):
                if key is None or sub["key"] == key:
                    self.put(queue, text)

        loop.call_soon_threadsafe(push)

    def present_changed(self, view: dict[str, Any] | None) -> None:
        """The presenter's view (None: Present switched on or off), to every lab at once (each
        follower draws it itself)."""
        self.broadcast({"present": {"on": self.presentation.on, "view": view}})

    def spotlight(self, key: str, name: str, z: list[float], digit: int | None) -> None:
        """The presenter puts one of the class's drawings (of model version `key`, checked when
        it was shared) on every open lab (and, in a lecture hall, every other server's)."""
        message = {"key": key, "name": name, "z": z, "digit": digit}
        self.broadcast({"spotlight": message})
        if self.relay_spotlight is not None:
            self.relay_spotlight(message)

    def spotlight_relayed(self, message: dict[str, Any]) -> None:
        """Another server's spotlight, checked as a shared drawing is, to this server's labs."""
        from gan_app.lab.points import clean_name, relayed_z, small_number

        key, z, digit = message.get("key"), message.get("z"), message.get("digit")
        if not (isinstance(key, str) and KEY.fullmatch(key) and relayed_z(z) is not None and small_number(digit, 100)):
            return
        self.broadcast({"spotlight": {"key": key, "name": clean_name(message.get("name")), "z": z, "digit": digit}})

    def class_points_changed(self, key: str, points: list[dict[str, Any]]) -> None:
        """The class's drawings for model version `key` are now `points`: to the labs drawing it."""
        self.broadcast({"class_points": points}, key)

