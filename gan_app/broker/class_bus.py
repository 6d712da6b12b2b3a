"""What the replicas of a lecture hall share about the class, beside the trainer's run: the
presenter's Present view and spotlights (so every lab follows the presenter, whichever replica
serves it) and the lab's model versions (content-addressed bundles, so a follower's replica can
serve the version the presenter's replica made).

- A version added to a replica's registry is written to Redis (`bundle:<key>`, kept BUNDLE_S);
  a replica asked for a version it does not hold reads it from there and checks it against its
  key (a bundle's key is the hash of its content) before serving it.
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
from gan_app.browser_model import BrowserBundle
from gan_app.presentation import checked_view

log = logging.getLogger(__name__)
CHANNEL = keys.PREFIX + "class"
BUNDLE = keys.PREFIX + "bundle:"  # + key: {"manifest": ...} JSON, then the weights
BUNDLE_S = 3600
MAX_BUNDLE = 64 * 1024 * 1024


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

    def __init__(self, url: str, announcer: Any, registry: Any) -> None:
        self.url = url
        self.announcer = announcer
        self.registry = registry
        self.origin = secrets.token_hex(6)  # this replica: it does not show its own messages twice
        self._redis = keys.connect(url)
        self._stop = threading.Event()

    def start(self) -> "ClassBus":
        self.registry.shared = self  # versions go out, and missing ones are looked up
        self.announcer.presentation.relay = lambda message: self.publish({"present": message})
        self.announcer.relay_spotlight = lambda message: self.publish({"spotlight": message})
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
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.heard(message["data"])
            except keys.errors() as exc:
                log.warning("broker: the class channel lost Redis (%s); trying again", exc)
                self._stop.wait(0.5)
            finally:
                client.close()

    def heard(self, raw: Any) -> None:
        """Another replica's message, checked again before this replica's labs get it."""
        try:
            message = json.loads(raw)
        except (TypeError, ValueError):
            return
        if not isinstance(message, dict) or message.get("from") == self.origin:
            return
        present = message.get("present")
        if isinstance(present, dict):
            view = present.get("view")
            if view is None or checked_view(view) is not None:
                self.announcer.presentation.relayed(bool(present.get("on")), None if view is None else checked_view(view))
        spot = message.get("spotlight")
        if isinstance(spot, dict):
            self.announcer.spotlight_relayed(spot)
