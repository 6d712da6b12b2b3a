"""What one dashboard server shares among all its tabs, owned by one object: its Classroom.

A classroom holds the class's trainer (this process's LiveTrainer, or in a lecture hall the
trainer process seen through the broker), the lab's model versions (Registry), the live copy
every lab draws (LiveFeed), the open labs' sockets (Announcer), the Real or fake? desk, the
class's found drawings (ClassPoints), the Find queue and the presenter password's limiter.
dashboard.py makes the server's classroom before it serves anything and hands its parts to the
routes; pages reach it with `classroom()`. Tests make classrooms of their own.

With a broker (GAN_APP_BROKER, a replica of a lecture hall) `join_hall()` wires the parts the
replicas share to Redis (gan_app.broker.class_bus): the presenter's view and spotlights, the
lab's versions (the live copy too: one replica takes it, the others serve the same version) and
the class's drawings."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from gan_app.broker import broker_url
from gan_app.core.config import DEFAULT_PRESET, RunConfig
from gan_app.lab.bundle import Registry
from gan_app.lab.find_queue import FindQueue
from gan_app.lab.points import ClassPoints
from gan_app.live.trainer import LiveTrainer
from gan_app.live.types import Snapshot
from gan_app.runs.checkpoint import REPO_CHECKPOINTS
from gan_app.classroom.desk import GameDesk
from gan_app.classroom.feed import Announcer, LiveFeed
from gan_app.classroom.logins import LoginLimiter

PRESET_ENV = "GAN_APP_PRESET"
CHECKPOINTS_ENV = "GAN_APP_CHECKPOINTS"  # where the live run's state and exports go
RUN_ENV = "GAN_APP_RUN"  # a run directory to continue live at start-up
LIVE_RUN = "live"  # checkpoints/live/: the dashboard's run, resumed after a server restart


def checkpoints_root() -> Path:
    return Path(os.environ.get(CHECKPOINTS_ENV, REPO_CHECKPOINTS))


class Classroom:
    """One server's shared state; `broker`: a lecture hall's Redis URL (None: embedded)."""

    def __init__(self, broker: str | None = None) -> None:
        self.broker = broker
        self._trainer: LiveTrainer | None = None
        self._trainer_lock = threading.Lock()
        self._making = False  # the live channel asked for the run before any page made the trainer
        self.registry = Registry()
        self.feed = LiveFeed(self.current_trainer, self.registry)
        self.announcer = Announcer(self.feed)
        self.desk = GameDesk(self.feed, self.announcer, self.registry)
        self.points = ClassPoints()  # the class's found drawings, per generator version
        self.points.listener = self.announcer.class_points_changed  # open labs of that version see each change
        self.find_queue = FindQueue()  # searches the server runs (where a tab cannot), batched: one at a time
        self.logins = LoginLimiter()  # every session of an address shares its count of wrong passwords
        self.bus: Any = None

    def trainer(self) -> LiveTrainer:
        """The class's trainer, made on first use (the live channel serves outside any script
        run, so it is not in st.cache_resource; "Clear cache" cannot drop it either).
        GAN_APP_PRESET picks the preset a fresh server starts with (default: fast); GAN_APP_RUN=DIR
        opens the run saved in DIR (by the CLI or a dashboard) instead, paused. With a broker it is
        the trainer process seen through Redis (gan_app.broker.remote): this server never trains."""
        with self._trainer_lock:
            if self._trainer is None or self._trainer.closed:
                if self.broker is not None:
                    from gan_app.broker.remote import RemoteTrainer

                    self._trainer = RemoteTrainer(self.broker)  # type: ignore[assignment]  # same commands and snapshot()
                    return self._trainer
                self._trainer = LiveTrainer(RunConfig(preset=os.environ.get(PRESET_ENV, DEFAULT_PRESET)),
                                            checkpoint_dir=checkpoints_root() / LIVE_RUN)
                if os.environ.get(RUN_ENV):
                    self._trainer.open_run(Path(os.environ[RUN_ENV]))
            return self._trainer

    def current_trainer(self) -> LiveTrainer | None:
        """The trainer if a page has made it, without making one."""
        return self._trainer

    def snapshot(self) -> Snapshot | None:
        """The class's run now, for the live channel. A tab whose server restarted, or whose
        replica died, reopens its live socket where none of its pages has run yet (and nothing on
        the Train page reruns by itself), so the first call makes the trainer, in a thread (the
        channel runs on the server's event loop), and None is returned until it exists."""
        trainer = self._trainer
        if trainer is None:
            with self._trainer_lock:
                start, self._making = not self._making, True
            if start:
                threading.Thread(target=self.trainer, name="make-trainer", daemon=True).start()
            return None
        return trainer.snapshot()

    def join_hall(self) -> "Classroom":
        """With a broker: share the presenter's view, the lab's versions and the class's drawings
        with the hall's other replicas. Without one: nothing to do."""
        if self.broker is not None and self.bus is None:
            from gan_app.broker.class_bus import ClassBus

            self.bus = ClassBus(self.broker, self.announcer, self.registry, self.points, self.feed).start()
        return self

    def close(self) -> None:
        """The server is stopping: the trainer saves and stops, the hall hears no more of it."""
        if self.bus is not None:
            self.bus.stop()
        if self._trainer is not None:
            self._trainer.close()


_room: Classroom | None = None
_room_lock = threading.Lock()


def classroom() -> Classroom:
    """This server's classroom (GAN_APP_BROKER picks embedded or a lecture hall's replica)."""
    global _room
    with _room_lock:
        if _room is None:
            _room = Classroom(broker_url())
        return _room
