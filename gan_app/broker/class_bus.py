"""What the replicas of a lecture hall share about the class, beside the trainer's run: the
presenter's Present view and spotlights (so every lab follows the presenter, whichever replica
serves it), the lab's model versions (content-addressed bundles, so a follower's replica can
serve the version the presenter's replica made; the live copy is one version for the hall) and
the class's found drawings.

- A version added to a replica's registry is written to Redis (`bundle:<key>`, kept BUNDLE_S);
  a replica asked for a version it does not hold reads it from there and checks it against its
  key (a bundle's key is the hash of its content) before serving it.
- The live copy: a replica that takes one says so on the channel (its step); the others take
  theirs on their next refresh, and the trainer hands them the same weights (a copy made within
  SHARED_COPY_S, gan_app.broker.service), so every replica builds the same bundle: one key.
- The class's drawings: a list per version in Redis (`points:<version>`, the newest PER_VERSION,
  kept POINTS_S), numbered once for the hall (`points_n:<version>`); a change goes out on the
  channel and every replica, the one that changed it too, reads the list again, checking each point
  (gan_app.lab.points): all show it in the order Redis keeps it.
- Present switched on or off, a leader's checked view and a spotlight go out on one Redis
  channel; every other replica checks them again and shows them to its own labs.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import Any

from gan_app.broker import keys
from gan_app.lab.browser_model import BrowserBundle
from gan_app.lab.points import PER_VERSION
from gan_app.lab.presentation import KEY, checked_view

log = logging.getLogger(__name__)
CHANNEL = keys.PREFIX + "class"
BUNDLE = keys.PREFIX + "bundle:"  # + key: {"manifest": ...} JSON, then the weights
BUNDLE_S = 3600
MAX_BUNDLE = 64 * 1024 * 1024
POINTS, POINTS_N = keys.PREFIX + "points:", keys.PREFIX + "points_n:"  # + a version's key
POINTS_S = 6 * 3600  # a lesson's drawings outlive it a little
MAX_POINT = 32 * 1024  # bytes: one point's JSON (a z of up to 1024 numbers)


def bundle_bytes(bundle: BrowserBundle) -> bytes:
    manifest = {k: v for k, v in bundle.manifest.items() if k != "key"}
    head = json.dumps(manifest, separators=(",", ":")).encode()
    return len(head).to_bytes(8, "big") + head + bundle.blob


def bundle_from(data: bytes, key: str) -> BrowserBundle | None:
    """The bundle in `data` if its content hashes to `key`; None otherwise."""
    try:
        size = int.from_bytes(data[:8], "big")
        bundle = BrowserBundle(json.loads(data[8 : 8 + size]), data[8 + size :])
    except (ValueError, TypeError, KeyError):
        return None
    return bundle if bundle.key == key else None


class ClassBus:
    """One per replica: relays its presenter's view and spotlights, and its model versions."""

    def __init__(self, url: str, announcer: Any, registry: Any, points: Any = None, feed: Any = None) -> None:
        self.url = url
        self.announcer = announcer
        self.registry = registry
        self.points, self.feed = points, feed
        self.origin = secrets.token_hex(6)  # this replica: it does not show its own messages twice
        self._redis = keys.connect(url)
        self._stop = threading.Event()

    def start(self) -> "ClassBus":
        self.registry.shared = self  # versions go out, and missing ones are looked up
        self.announcer.presentation.relay = lambda message: self.publish({"present": message})
        self.announcer.relay_spotlight = lambda message: self.publish({"spotlight": message})
        if self.points is not None:
            self.points.shared = self  # the hall's list, numbered once
        if self.feed is not None:
            self.feed.on_copy = lambda version: self.publish({"live_copy": version.step})
        threading.Thread(target=self._listen, name="broker-class", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    # ---- versions ----------------------------------------------------------------------------
    def added(self, bundle: BrowserBundle) -> None:
        try:
            self._redis.set(BUNDLE + bundle.key, bundle_bytes(bundle), ex=BUNDLE_S)
        except keys.errors() as exc:
            log.warning("broker: could not share version %s (%s)", bundle.key, exc)

    def lookup(self, key: str) -> BrowserBundle | None:
        try:
            data = self._redis.get(BUNDLE + key)
        except keys.errors():
            return None
        return None if data is None or len(data) > MAX_BUNDLE else bundle_from(data, key)

    # ---- the class's drawings ------------------------------------------------------------------
    def number(self, version: str) -> int | None:
        """The next number of a drawing of `version`, the hall's (None while Redis is away)."""
        try:
            number, _ = self._redis.pipeline().incr(POINTS_N + version).expire(POINTS_N + version, POINTS_S).execute()
            return int(number)
        except keys.errors():
            return None

    def point_added(self, version: str, point: dict[str, Any]) -> None:
        self._points_changed(version, lambda pipe: pipe.rpush(POINTS + version, json.dumps(point))
                             .ltrim(POINTS + version, -PER_VERSION, -1).expire(POINTS + version, POINTS_S))

    def point_hidden(self, version: str, label: str) -> None:
        def hide(pipe: Any) -> None:
            for raw in self._redis.lrange(POINTS + version, 0, -1):
                if _label(raw) == label:
                    pipe.lrem(POINTS + version, 0, raw)
        self._points_changed(version, hide)

    def points_cleared(self, version: str) -> None:
        self._points_changed(version, lambda pipe: pipe.delete(POINTS + version))

    def _points_changed(self, version: str, change: Any) -> None:
        try:
            pipe = self._redis.pipeline()
            change(pipe)
            pipe.execute()
        except keys.errors() as exc:
            log.warning("broker: could not share the class's drawings (%s)", exc)
            return
        self.publish({"points": version})

    def points_of(self, version: str) -> list[Any]:
        """The hall's drawings of `version`, oldest first, as sent (checked where they are kept)."""
        return self._hall_list(version) or []

    def _hall_list(self, version: str) -> list[Any] | None:
        """points_of, or None while Redis cannot be read."""
        try:
            raws = self._redis.lrange(POINTS + version, -PER_VERSION, -1)
        except keys.errors():
            return None
        found = []
        for raw in raws:
            try:
                found.append(json.loads(raw) if len(raw) <= MAX_POINT else None)
            except ValueError:
                continue
        return found

    # ---- the presenter ------------------------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> None:
        try:
            self._redis.publish(CHANNEL, json.dumps({"from": self.origin, **message}))
        except keys.errors() as exc:
            log.warning("broker: could not tell the other replicas (%s)", exc)

    def _listen(self) -> None:
        while not self._stop.is_set():
            client = keys.connect(self.url, socket_timeout=None)
            try:
                pubsub = client.pubsub()
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._read_lists_again()
                    elif message["type"] == "message":
                        self.heard(message["data"])
            except keys.errors() as exc:
                log.warning("broker: the class channel lost Redis (%s); trying again", exc)
                self._stop.wait(0.5)
            finally:
                client.close()

    def _read_lists_again(self) -> None:
        """Once Redis confirms the subscription (at start, and after it was lost): the lists this
        replica holds, read again, so a change announced before it listened is not missed."""
        if self.points is not None:
            for version in self.points.known_versions():
                self._read_list_again(version)

    def _read_list_again(self, version: str) -> None:
        """This replica's list of `version` becomes the hall's; one Redis cannot give leaves it as it is."""
        listed = self._hall_list(version)
        if listed is not None:
            self.points.replace(version, listed)

    def heard(self, raw: Any) -> None:
        """Another replica's message, checked again before this replica's labs get it."""
        try:
            message = json.loads(raw)
        except (TypeError, ValueError):
            return
        if not isinstance(message, dict):
            return
        version = message.get("points")  # this replica's own changes too: every replica reads the hall's one list
        if self.points is not None and isinstance(version, str) and KEY.fullmatch(version):
            self._read_list_again(version)
        if message.get("from") == self.origin:
            return
        present = message.get("present")
        if isinstance(present, dict):
            view = present.get("view")
            if view is None or checked_view(view) is not None:
                self.announcer.presentation.relayed(bool(present.get("on")), None if view is None else checked_view(view))
        spot = message.get("spotlight")
        if isinstance(spot, dict):
            self.announcer.spotlight_relayed(spot)
        step = message.get("live_copy")
        if self.feed is not None and isinstance(step, int) and not isinstance(step, bool) and step >= 0:
            self.feed.copy_announced(step)


def _label(raw: bytes) -> str | None:
    try:
        point = json.loads(raw)
    except ValueError:
        return None
    return point.get("name") if isinstance(point, dict) else None
