"""The presenter leads the class's labs: with "Present" on, the presenter's lab sends its view
(the model version, the explored z, the tool and its slider values, encoded as a link carries
them: gan_app/ui/lab/web/share.js) and every student's lab that follows shows the same view, drawn
in each tab. Only a lab that holds the presenter's token may lead; the token is handed to
presenter pages only and changes whenever Present is switched on. What a leader sends is checked
here before any tab gets it. Nothing here knows Streamlit."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import secrets
import threading
from typing import Any, Callable

MAX_STATE_CHARS = 4000  # an encoded view: about 1 KB for 64 dimensions, 2 KB for 100
MAX_Z = 50.0
TABS = ("raw", "SeFa", "PCA", "digit", "pick", "map")
KEY = re.compile(r"[0-9a-f]{1,64}")
STATE = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_STATE_CHARS)
MODEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Listener = Callable[[dict[str, Any] | None], None]  # the view every follower shows now (None: Present is off)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def checked_view(message: Any) -> dict[str, Any] | None:
    """A leader's view ({"key", "state", "model"}) if every part is what it claims: a model
    version's key, a link's state (base64url JSON of version 1 with a finite, bounded z, a known
    tool and finite slider values) and a model name or None; None otherwise."""
    if not isinstance(message, dict):
        return None
    key, state, model = message.get("key"), message.get("state"), message.get("model")
    if not (isinstance(key, str) and KEY.fullmatch(key) and isinstance(state, str) and STATE.fullmatch(state)):
        return None
    if model is not None and not (isinstance(model, str) and MODEL.fullmatch(model)):
        return None
    try:
        view = json.loads(base64.urlsafe_b64decode(state + "=" * (-len(state) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(view, dict) or view.get("v") != 1:
        return None
    z, alpha = view.get("z"), view.get("alpha")
    if not isinstance(z, list) or not 1 <= len(z) <= 1024 or not all(_finite(v) and abs(v) <= MAX_Z for v in z):
        return None
    if view.get("tab") not in TABS or not isinstance(alpha, dict):
        return None
    for kind in ("SeFa", "PCA"):
        values = alpha.get(kind)
        if not isinstance(values, list) or len(values) > 16 or not all(_finite(v) for v in values):
            return None
    return {"key": key, "state": state, "model": model}


def encode_view(z: list[float], tab: str = "SeFa", sefa: list[float] | None = None, digit: int | None = None,
                where: str = "the presenter's point") -> str:
    """A view as the lab's share.js encodes it (base64url JSON, z to 3 decimals): what a
    presenter's lab sends (the benchmark's emulated presenter, and the tests)."""
    view = {"v": 1, "z": [round(float(v), 3) for v in z], "digit": digit, "tab": tab, "where": where,
            "alpha": {"SeFa": list(sefa or [0.0] * 5), "PCA": [0.0] * 5}, "towards": None, "amount": 0}
    return base64.urlsafe_b64encode(json.dumps(view).encode()).decode().rstrip("=")


class Presentation:
    """Whether the presenter leads, the view followers show, and who may lead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = secrets.token_urlsafe(24)
        self.on = False
        self.view: dict[str, Any] | None = None  # the leader's latest checked view
        self.moves = 0  # views accepted (tests, the benchmark)
        self.listener: Listener | None = None
        self.relay: Callable[[dict[str, Any]], None] | None = None  # to other servers of a hall (gan_app.broker.class_bus)

    def token(self) -> str:
        """The leader's token, for presenter pages only."""
        with self._lock:
            return self._token

    def start(self) -> None:
        """Present: followers show the leader's view from the next move on (a new token: a page
        that had an earlier one leads no more)."""
        with self._lock:
            if self.on:
                return
            self.on, self.view, self._token = True, None, secrets.token_urlsafe(24)
        self._tell(None)

    def stop(self) -> None:
        with self._lock:
            if not self.on:
                return
            self.on, self.view = False, None
        self._tell(None)

    def lead(self, token: Any, message: Any) -> bool:
        """A move from a lab: shown to every follower when it holds the token, Present is on and
        the view passes checked_view. False (and nothing sent) otherwise."""
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token().encode()):
            return False
        view = checked_view(message)
        with self._lock:
            if not self.on or view is None:
                return False
            self.view = view
            self.moves += 1
        self._tell(view)
        return True

    def current(self) -> dict[str, Any] | None:
        """What a lab that opens now follows: {"on", "view"}."""
        with self._lock:
            return {"on": self.on, "view": self.view}

    def relayed(self, on: bool, view: dict[str, Any] | None) -> None:
        """Another server's presenter (a lecture hall): Present on or off, or its checked view."""
        with self._lock:
            self.on, self.view = on, (view if on else None)
            self.moves += view is not None
        if self.listener is not None:
            self.listener(self.view)

    def _tell(self, view: dict[str, Any] | None) -> None:
        if self.listener is not None:
            self.listener(view)
        if self.relay is not None:
            self.relay({"on": self.on, "view": view})
