"""Wrong presenter passwords, counted per client address for the whole server (the classroom
owns one limiter: gan_app.classroom.room)."""

from __future__ import annotations

import threading
from collections import OrderedDict

FREE_ATTEMPTS = 3  # wrong presenter passwords an address may enter before it has to wait
LOGIN_ADDRESSES = 4096  # client addresses whose wrong passwords are remembered
LOCK_FIRST_S, LOCK_MAX_S = 10.0, 300.0  # the first wait, doubled on every further wrong one, and its cap


class LoginLimiter:
    """Wrong presenter passwords counted per client address, for the whole server: a reload, a
    fresh session or a new websocket does not start the count again. After FREE_ATTEMPTS wrong
    ones in a row an address waits LOCK_FIRST_S seconds before its next try is even checked,
    twice as long after every further wrong one (at most LOCK_MAX_S). At most `kept` addresses
    are remembered (the oldest are forgotten first)."""

    def __init__(self, kept: int = LOGIN_ADDRESSES) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        self._by_client: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (failures, until)

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` may try again (0: now)."""
        with self._lock:
            return max(0.0, self._by_client.get(client, (0, 0.0))[1] - now)

    def failed(self, client: str, now: float) -> float:
        """Count a wrong password; the seconds `client` must now wait (0 while tries are free)."""
        with self._lock:
            failures = self._by_client.pop(client, (0, 0.0))[0] + 1
            lock = 0.0 if failures < FREE_ATTEMPTS else min(LOCK_MAX_S, LOCK_FIRST_S * 2 ** (failures - FREE_ATTEMPTS))
            self._by_client[client] = (failures, now + lock)
            while len(self._by_client) > self.kept:
                self._by_client.popitem(last=False)
            return lock

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._by_client.pop(client, None)

    def clear(self) -> None:
        with self._lock:
            self._by_client.clear()
