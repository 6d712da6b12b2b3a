"""The trainer as a service behind Redis (`python -m gan_app trainer --broker redis://...`): one
gan_app.live.trainer.LiveTrainer in this process, its snapshots published for every replica, the pages'
commands carried out in the order they came, from whichever replica sent them.

Two threads beside the trainer's own: the publisher writes each new snapshot (its big parts only
when they changed) and the heartbeat; the command loop takes the pages' commands off a Redis list.
Both wait and try again while Redis is away, and write everything again once it is back (a
restarted Redis starts empty). A restarted trainer resumes the run from its last checkpoint, and
goes on training if the class had it training (WANTED)."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable

from gan_app.broker import keys
from gan_app.broker.codec import core_bytes, frames_bytes, history_bytes, weights_bytes
from gan_app.core.config import RunConfig
from gan_app.core.errors import GanAppError

log = logging.getLogger(__name__)
PUBLISH_S = 0.02  # how often the publisher looks for a new snapshot (the trainer makes at most ~10 a second)


def _config(arg: Any) -> RunConfig | None:
    if arg is None:
        return None
    known = set(RunConfig.__dataclass_fields__)
    return RunConfig(**{k: v for k, v in dict(arg).items() if k in known})


# command -> what the trainer does with its argument (as gan_app.live.commands sends it); the
# trainer's own checks apply (a state that does not allow it, a bad value: its message says so)
SENDS: dict[str, Callable[[Any, Any], Any]] = {
    "start": lambda t, a: t.start(), "pause": lambda t, a: t.pause(), "resume": lambda t, a: t.resume(),
    "stop": lambda t, a: t.stop(), "reset": lambda t, a: t.reset(_config(a)), "step": lambda t, a: t.step_once(str(a)),
    "slow": lambda t, a: t.slow_step(), "open_run": lambda t, a: t.open_run(Path(str(a))),
    "live": lambda t, a: t.apply_live(**dict(a)), "save": lambda t, a: t.save_checkpoint(),
    "export": lambda t, a: t.export(Path(str(a[0])), bool(a[1])), "grid_every": lambda t, a: t.set_grid_every(int(a)),
}
ASKS: dict[str, Callable[[Any], bytes]] = {
    "model_diagram": lambda t: json.dumps(t.model_diagram()).encode(),
    "ping": lambda t: b"1" if t.wait_idle() else b"",
}
WANTS = {"start": "running", "resume": "running", "pause": "", "stop": "", "reset": ""}


class TrainerService:
    def __init__(self, trainer: Any, url: str) -> None:
        self.trainer = trainer
        self.url = url
        self.incarnation = secrets.token_hex(6)  # versions restart with the process: replicas tell them apart
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.published = 0
        self._copy: tuple[float, int, bytes] | None = None  # the newest lab copy: (monotonic time, run id, bytes)

    def start(self) -> "TrainerService":
        """The publisher and the command loop, in threads of their own; a restarted trainer
        goes on training if the class had it training."""
        self._threads = [threading.Thread(target=self._publish_loop, name="broker-publish", daemon=True),
                         threading.Thread(target=self._command_loop, name="broker-commands", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _retrying(self, what: str, body: Callable[[Any], None]) -> None:
        """Run `body(redis)` until stopped; while Redis is away, wait and connect again."""
        while not self._stop.is_set():
            client = keys.connect(self.url)
            try:
                body(client)
            except keys.errors() as exc:
                log.warning("broker: %s lost Redis (%s); trying again", what, exc)
                self._stop.wait(0.5)
            finally:
                client.close()

    # ---- publishing --------------------------------------------------------------------------
    def _publish_loop(self) -> None:
        def body(r: Any) -> None:
            shown, history_tag, frames_tag, beat = None, None, None, 0.0  # a new connection writes everything
            while not self._stop.is_set():
                snap = self.trainer.snapshot()
                now = time.monotonic()
                pipe = r.pipeline()
                if now - beat >= keys.HEARTBEAT_S:
                    pipe.set(keys.ALIVE, self.incarnation, px=keys.ALIVE_MS)
                    beat = now
                if snap.version != shown:
                    last_frame = snap.frames[-1][0] if snap.frames else -1
                    tags = (f"{self.incarnation}:{snap.run_id}:{snap.history_version}",
                            f"{self.incarnation}:{snap.run_id}:{len(snap.frames)}:{last_frame}")
                    if tags[0] != history_tag:  # each big part encoded and written only when it changed
                        pipe.set(keys.HISTORY, history_bytes(snap)).set(keys.HISTORY_TAG, tags[0])
                    if tags[1] != frames_tag:
                        pipe.set(keys.FRAMES, frames_bytes(snap)).set(keys.FRAMES_TAG, tags[1])
                    pipe.set(keys.CORE, core_bytes(snap)).set(keys.VERSION, f"{self.incarnation}:{snap.version}")
                pipe.execute()
                if snap.version != shown:
                    shown, history_tag, frames_tag = snap.version, tags[0], tags[1]
                    self.published += 1
                self._stop.wait(PUBLISH_S)

        self._retrying("the publisher", body)

    # ---- commands ----------------------------------------------------------------------------
    def _command_loop(self) -> None:
        def body(r: Any) -> None:
            self._resume_if_wanted(r)
            while not self._stop.is_set():
                item = r.blpop([keys.COMMANDS], timeout=1)
                if item is not None:
                    self._carry_out(r, item[1])

        self._retrying("the command loop", body)

    def _resume_if_wanted(self, r: Any) -> None:
        if r.get(keys.WANTED) != b"running":
            return
        self.trainer.wait_idle()  # the run saved here is open (paused at its checkpoint), or none was
        status = self.trainer.snapshot().status
        if status == "paused":
            self.trainer.resume()
        elif status in ("idle", "stopped"):
            self.trainer.start()

    def _carry_out(self, r: Any, raw: bytes) -> None:
        try:
            message = json.loads(raw) if len(raw) <= keys.MAX_COMMAND else None
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("command"), str):
            log.warning("broker: ignored a command that is not one (%d bytes)", len(raw))
            return
        command, arg, reply = message["command"], message.get("arg"), message.get("reply")
        try:
            if command in (*ASKS, "copy_generator") and isinstance(reply, str) and reply.isalnum():
                answer = self._copy_generator(arg) if command == "copy_generator" else ASKS[command](self.trainer)
                r.pipeline().rpush(keys.REPLY + reply, answer).expire(keys.REPLY + reply, keys.REPLY_S).execute()
            elif command in SENDS:
                SENDS[command](self.trainer, arg)
                if command in WANTS:
                    r.set(keys.WANTED, WANTS[command])
            else:
                log.warning("broker: ignored the unknown command %r", command[:40])
        except (GanAppError, TypeError, ValueError, KeyError, IndexError) as exc:
            log.warning("broker: the command %r failed: %s", command, exc)

    def _copy_generator(self, arg: Any) -> bytes:
        """A copy of the live weights for the labs. A replica may take one made within
        `arg["recent_s"]` seconds (at most keys.SHARED_COPY_S) of the same run: the hall's replicas,
        asking within a few seconds of each other, get the same bytes, build the same bundle and
        so serve the same version (its key is its content's hash)."""
        recent = arg.get("recent_s") if isinstance(arg, dict) else None
        recent = min(float(recent), keys.SHARED_COPY_S) if isinstance(recent, (int, float)) and recent > 0 else 0.0
        run_id = self.trainer.snapshot().run_id
        kept = self._copy
        if kept is not None and kept[1] == run_id and time.monotonic() - kept[0] <= recent:
            return kept[2]
        weights = self.trainer.copy_generator()
        if weights is None:
            return b""
        data = weights_bytes(weights)
        self._copy = (time.monotonic(), weights.run_id, data)
        return data


def serve(url: str, run_dir: Path | None, preset: str) -> None:
    """`python -m gan_app trainer`: the live trainer in this process, served through the broker
    at `url` until SIGTERM or Ctrl-C (then it saves a checkpoint, as a dashboard does on exit)."""
    import os
    import signal

    from gan_app.broker import check_url
    from gan_app.runs.checkpoint import REPO_CHECKPOINTS
    from gan_app.live.trainer import LiveTrainer

    check_url(url)
    client = keys.connect(url)
    try:
        client.ping()
    except keys.errors() as exc:
        raise GanAppError(f"cannot reach the broker at {url} ({exc}); start redis-server first "
                          "(docs/lecture-hall.md)") from None
    finally:
        client.close()
    root = Path(os.environ.get("GAN_APP_CHECKPOINTS", REPO_CHECKPOINTS))  # as the dashboard's own run
    run_dir = Path(run_dir) if run_dir is not None else root / "live"
    trainer = LiveTrainer(RunConfig(preset=preset), checkpoint_dir=run_dir)
    service = TrainerService(trainer, url).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"trainer: serving {run_dir} through {url} (device: {trainer.snapshot().device}); Ctrl-C stops it",
          flush=True)
    done.wait()
    service.stop()
    trainer.close(timeout=60)
