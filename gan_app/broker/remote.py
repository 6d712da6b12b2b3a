"""A replica's trainer: the one trainer of the class, in another process, seen through Redis.
`RemoteTrainer` is what gan_app.ui.common.get_trainer() gives pages when GAN_APP_BROKER is set:
the same commands as gan_app.live.trainer.LiveTrainer (they go to the trainer, whichever replica sends
them) and `snapshot()`, kept current by one reader thread per server process (not per page).

When the trainer's heartbeat stops, pages keep its last state, marked "offline" with a message,
within ALIVE_MS plus a poll; commands are refused until it is back. Snapshots are numbered here
(version, run id): a restarted trainer numbers its own from 0 again, and caches keyed by them
must still see something new."""

from __future__ import annotations

import dataclasses
import itertools
import json
import secrets
import threading
import time
from typing import Any

from gan_app.broker import keys
from gan_app.broker.codec import snapshot_from, weights_from
from gan_app.core.config import RunConfig
from gan_app.core.errors import GanAppError
from gan_app.lab.model import GeneratorWeights
from gan_app.live.commands import TrainerCommands
from gan_app.live.types import Snapshot

POLL_S = 0.02  # how often the reader looks for a new snapshot
_LOCAL_RUN_IDS = itertools.count(1_000_000)  # apart from this process's own trainers' run ids
OFFLINE = ("The trainer is offline (last heard {ago:.0f} s ago): this is its last state. It goes on from its "
           "last checkpoint when it is back.")


class RemoteTrainer(TrainerCommands):
    def __init__(self, url: str) -> None:
        self.url = url
        self._config = RunConfig()
        self._dir = None
        self._lock = threading.Lock()
        self._redis = keys.connect(url)
        self._asks = keys.connect(url, socket_timeout=None)  # blocking reads wait longer than a socket timeout
        self._snapshot = Snapshot(message="Waiting for the trainer (GAN_APP_BROKER)...", status="offline")
        self._remote: Snapshot | None = None  # the trainer's newest, as it numbered it
        self._heard = 0.0  # monotonic time of the last heartbeat seen
        self._online = False
        self._offline_shown = -1  # the whole seconds the offline message last showed
        self._seen: tuple[str | None, str | None, str | None] = (None, None, None)  # version, history, frames tags
        self._history: bytes | None = None
        self._frames: bytes | None = None
        self._run_ids: dict[tuple[str, int], int] = {}
        self._version = itertools.count(1)
        self._closed = threading.Event()
        try:  # the first page already knows whether the trainer is there
            self._read_once()
        except keys.errors():
            pass
        self._thread = threading.Thread(target=self._read_loop, name="broker-reader", daemon=True)
        self._thread.start()

    # ---- what pages read ---------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    @property
    def online(self) -> bool:
        return self._online

    def close(self, timeout: float = 10.0) -> None:
        self._closed.set()
        self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _local_run_id(self, incarnation: str, run_id: int) -> int:
        return self._run_ids.setdefault((incarnation, run_id), next(_LOCAL_RUN_IDS))

    def _show(self, remote: Snapshot | None, online: bool) -> None:
        """The snapshot pages get: the trainer's, renumbered, and marked offline while it is."""
        if remote is None:
            return
        changes: dict[str, Any] = {"version": next(self._version)}
        if not online:
            changes.update(status="offline", steps_per_s=0.0, images_per_s=0.0,
                           message=OFFLINE.format(ago=time.monotonic() - self._heard))
        with self._lock:
            self._snapshot = dataclasses.replace(remote, **changes)
            self._config = self._snapshot.config
            self._dir = self._snapshot.run_dir

    # ---- the reader thread -------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._read_once()
            except keys.errors():
                self._went(online=False)
                self._closed.wait(0.5)
                continue
            self._closed.wait(POLL_S)

    def _went(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self._show(self._remote, online)

    def _read_once(self) -> None:
        version, alive, history_tag, frames_tag = self._redis.mget(keys.VERSION, keys.ALIVE, keys.HISTORY_TAG,
                                                                   keys.FRAMES_TAG)
        if alive is not None:
            self._heard = time.monotonic()
        tags = (version, history_tag, frames_tag)
        if version is not None and tags != self._seen:
            parts = self._redis.mget(keys.CORE, keys.HISTORY if history_tag != self._seen[1] else keys.CORE,
                                     keys.FRAMES if frames_tag != self._seen[2] else keys.CORE)
            core = parts[0]
            if core is None:
                return
            if history_tag != self._seen[1]:
                self._history = parts[1]
            if frames_tag != self._seen[2]:
                self._frames = parts[2]
            remote = snapshot_from(core, self._history, self._frames)
            incarnation = version.decode().split(":", 1)[0]
            remote = dataclasses.replace(remote, run_id=self._local_run_id(incarnation, remote.run_id))
            self._seen, self._remote = tags, remote
            self._online = alive is not None
            self._show(remote, self._online)
        else:
            self._went(online=alive is not None and version is not None)
        ago = int(time.monotonic() - self._heard)
        if not self._online and self._remote is not None and ago != self._offline_shown:
            self._offline_shown = ago  # the offline message counts the seconds: a new snapshot once a second
            self._show(self._remote, False)

    # ---- commands ----------------------------------------------------------------------------
    def _check_online(self) -> None:
        if not self._online:
            raise GanAppError("the trainer is offline: the command was not sent. Try again once it is back.")

    def _push(self, command: str, arg: Any, reply: str | None = None) -> None:
        text = json.dumps({"command": command, "arg": arg, "reply": reply})
        try:
            self._redis.pipeline().rpush(keys.COMMANDS, text).ltrim(keys.COMMANDS, -keys.COMMANDS_KEPT, -1).execute()
        except keys.errors() as exc:
            raise GanAppError(f"the broker is unreachable ({exc}): the command was not sent") from None

    def _send(self, command: str, arg: Any = None) -> None:
        self._check_online()
        if command == "reset" and arg is not None:
            arg = dataclasses.asdict(arg)
        elif command in ("open_run",):
            arg = str(arg)
        elif command == "export":
            arg = [str(arg[0]), bool(arg[1])]
        self._push(command, arg)

    def _ask(self, command: str, timeout: float) -> Any:
        """A command that answers: its answer, or None if none came within `timeout`."""
        if not self._online:
            return None
        reply = secrets.token_hex(8)
        arg = {"recent_s": keys.SHARED_COPY_S} if command == "copy_generator" else None  # the hall's copy
        self._push(command, arg, reply)
        try:
            found = self._asks.blpop([keys.REPLY + reply], timeout=max(1, round(timeout)))
        except keys.errors():
            return None
        if not found or not found[1]:
            return None
        if command == "copy_generator":
            return self._renumbered(weights_from(found[1]))
        if command == "model_diagram":
            return json.loads(found[1])
        return found[1]

    def _renumbered(self, w: GeneratorWeights) -> GeneratorWeights:
        version = self.snapshot_version_tag()
        return dataclasses.replace(w, run_id=self._local_run_id(version, w.run_id))

    def snapshot_version_tag(self) -> str:
        seen = self._seen[0]
        return seen.decode().split(":", 1)[0] if seen else ""

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self._ask("ping", timeout) == b"1"
