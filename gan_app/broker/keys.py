"""The Redis side of the broker: the keys one trainer and its replicas share, and a connection
that rides out a restarted Redis (every loop here retries; nothing is lost but what was in
flight)."""

from __future__ import annotations

from typing import Any

PREFIX = "gan_app:"
VERSION = PREFIX + "version"  # "<incarnation>:<snapshot version>": changes with every snapshot
CORE = PREFIX + "snapshot"  # the snapshot without its big parts (gan_app.broker.codec)
HISTORY, HISTORY_TAG = PREFIX + "history", PREFIX + "history_tag"  # loss rows, written when they change
FRAMES, FRAMES_TAG = PREFIX + "frames", PREFIX + "frames_tag"  # the time-lapse frames, likewise
ALIVE = PREFIX + "alive"  # the trainer's heartbeat: set every HEARTBEAT_S, gone ALIVE_MS after it stops
COMMANDS = PREFIX + "commands"  # pages' commands, oldest first, at most COMMANDS_KEPT waiting
WANTED = PREFIX + "wanted"  # "running" while the class wants the run to train (a restarted trainer goes on)
REPLY = PREFIX + "reply:"  # + an ask's id: its answer, kept REPLY_S

HEARTBEAT_S = 1.0
ALIVE_MS = 3000
COMMANDS_KEPT = 100
REPLY_S = 30
MAX_COMMAND = 64 * 1024  # bytes: a command's JSON (a path, a config)
SHARED_COPY_S = 10.0  # a lab copy of the weights this recent is what another replica gets too


def connect(url: str, socket_timeout: float | None = 5.0) -> Any:
    """A Redis client for `url`; it connects on first use and again after a connection failed."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=2.0, health_check_interval=5)


def errors() -> tuple[type[BaseException], ...]:
    """What a lost or restarting Redis raises (the loops wait and try again)."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)
