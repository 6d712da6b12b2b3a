"""Render once, serve every viewer: what the whole class is shown is built once per snapshot.

Thirty browsers refreshing the Train page every second ask for the same figures and the same
grid image thirty times a second. `SharedRenders` keeps each of them under a key that names
exactly what it depends on (the run, its step or quality version, and a view setting such as
the smoothing), builds it on the first request and hands the same object to every later one.
The objects are immutable in use, so handing them to many script threads at once is safe.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


class SharedRenders:
    """A thread-safe, bounded memo. Two viewers asking for one missing key at once wait for a
    single build (a per-key lock), and builds of different keys run side by side."""

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self.builds: Counter[str] = Counter()  # kind -> how many times it was built
        self._items: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self._building: dict[tuple[Hashable, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, key: tuple[Hashable, ...], build: Callable[[], T]) -> T:
        full = (kind, *key)
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full]
            lock = self._building.setdefault(full, threading.Lock())
        with lock:
            with self._lock:
                if full in self._items:  # another viewer built it while this one waited
                    return self._items[full]
            value = build()
            with self._lock:
                self.builds[kind] += 1
                self._items[full] = value
                self._building.pop(full, None)
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.builds.clear()


# One per server process, like the trainer. Only the newest version of each view is asked for,
# so a few dozen entries hold everything in use; more would only hold old figures in memory.
RENDERS = SharedRenders()
