"""Real or fake?: the class plays the discriminator. While the presenter runs the game, each
student's lab is dealt one card at a time, half of them real digits and half of them fakes that
the tab draws itself with the live generator's current version (a seed and, for a conditional
model, a digit: the server never renders them), and answers "real" or "fake". The server keeps
every card it dealt, so an answer is checked against the card, not believed: one answer per card,
no sooner than MIN_THINK_S after it was dealt and no later than CARD_TTL_S, from the player it was
dealt to. Each student hears only their own score; the presenter's lab gets the class's accuracy
per model version (by the run's step) beside D's accuracy on the same kinds of images (real
digits and G's samples of that version, measured on the server once per version).

A scripted tab can tell its own real cards from its fakes (it draws the fakes), so the game is a
lesson, not an exam: what a script can do is bounded to one player per lab socket, one answer per
card at a human pace, which moves the class's curve by at most its share. Nothing here knows
Streamlit."""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

MIN_THINK_S = 0.4  # an answer sooner than this after its card was dealt is refused
CARD_TTL_S = 120.0  # a card left unanswered longer than this is void
MAX_PLAYERS = 1000  # players in one game (each lab socket is at most one)
MAX_POINTS = 200  # model versions on the class's curve (the oldest go first)
D_SAMPLES = 200  # real digits and G's samples D judges per version
PLAYER = re.compile(r"[0-9a-f]{32}")
CARD = re.compile(r"[0-9a-f]{16}")
SEED_MAX = 2**31 - 1


@dataclass
class Card:
    id: str
    real: bool
    key: str  # the model version whose step the answer counts at (a fake is drawn with it)
    step: int
    dealt: float
    image: int = -1  # a real card's digit (index into the reals)
    seed: int = 0  # a fake card's latent, drawn in the tab from the prior with this seed
    digit: int | None = None  # a fake card's digit, for a conditional generator

    def message(self, reals: np.ndarray) -> dict[str, Any]:
        """What the tab is sent: a real digit's pixels, or what to draw a fake from."""
        if self.real:
            return {"id": self.id, "image": base64.b64encode(reals[self.image].tobytes()).decode()}
        return {"id": self.id, "key": self.key, "seed": self.seed, "digit": self.digit}


@dataclass
class Player:
    right: int = 0
    answered: int = 0
    card: Card | None = None


@dataclass
class Point:
    """The class's answers to cards of one model version, and D's accuracy on that version."""

    step: int
    right: int = 0
    answered: int = 0
    d: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "class": self.right / self.answered if self.answered else None,
                "answers": self.answered, "d": self.d}


@dataclass(frozen=True)
class Version:
    """The live run's version that fakes are drawn with now."""

    key: str
    step: int
    num_classes: int = 0


@dataclass
class _Round:
    players: OrderedDict[str, Player] = field(default_factory=OrderedDict)
    points: OrderedDict[str, Point] = field(default_factory=OrderedDict)  # version key -> its point
    answers: int = 0
    right: int = 0
    changes: int = 0  # one more with every answer and every D accuracy measured


class RealOrFake:
    """One game at a time, started and stopped by the presenter; `reals` is uint8 (N, 784)."""

    def __init__(self, reals: Callable[[], np.ndarray], seed: int | None = None) -> None:
        self._reals = reals
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(seed)
        self._token = secrets.token_hex(16)
        self.on = False
        self.round = 0
        self._r = _Round()
        self.listener: Callable[[bool], None] | None = None  # told when the game starts or stops

    def token(self) -> str:
        """The presenter's token: a lab that shows it hears the class's curve."""
        return self._token

    def is_presenter(self, token: Any) -> bool:
        import hmac

        return isinstance(token, str) and hmac.compare_digest(token.encode(), self._token.encode())

    def start(self) -> None:
        """A new game: every score and the class's curve start again."""
        with self._lock:
            if self.on:
                return
            self.on, self.round, self._r = True, self.round + 1, _Round()
        self._tell()

    def stop(self) -> None:
        """Stop dealing; the class's curve stays for the presenter to show."""
        with self._lock:
            if not self.on:
                return
            self.on = False
        self._tell()

    def _tell(self) -> None:
        if self.listener is not None:
            self.listener(self.on)

    def state(self) -> dict[str, Any]:
        return {"on": self.on, "round": self.round}

    def deal(self, player_id: Any, version: Version | None, now: float | None = None) -> dict[str, Any]:
        """The next card for `player_id` (a tab's random hex id), replacing any it holds:
        {"card": ...} or {"card": None, "why": ...}."""
        now = time.monotonic() if now is None else now
        if not (isinstance(player_id, str) and PLAYER.fullmatch(player_id)):
            return {"card": None, "why": "not a player"}
        if version is None:
            return {"card": None, "why": "the live run has not trained yet"}
        reals = self._reals()
        with self._lock:
            if not self.on:
                return {"card": None, "why": "the game is not on"}
            r = self._r
            player = r.players.get(player_id)
            if player is None:
                if len(r.players) >= MAX_PLAYERS:
                    return {"card": None, "why": "the game is full"}
                player = r.players[player_id] = Player()
            real = bool(self._rng.random() < 0.5)
            card = Card(secrets.token_hex(8), real, version.key, version.step, now)
            if real:
                card.image = int(self._rng.integers(len(reals)))
            else:
                card.seed = int(self._rng.integers(SEED_MAX))
                card.digit = int(self._rng.integers(version.num_classes)) if version.num_classes else None
            player.card = card
            if version.key not in r.points:
                r.points[version.key] = Point(version.step)
                while len(r.points) > MAX_POINTS:
                    r.points.popitem(last=False)
        return {"card": card.message(reals)}

    def answer(self, player_id: Any, card_id: Any, said_real: Any, now: float | None = None) -> dict[str, Any]:
        """A player's answer to the card it holds: {"verdict": {"right", "was_real", "step",
        "score": [right, answered]}}, or {"refused": why} (nothing counted)."""
        now = time.monotonic() if now is None else now
        if not (isinstance(player_id, str) and PLAYER.fullmatch(player_id) and isinstance(card_id, str)
                and CARD.fullmatch(card_id) and isinstance(said_real, bool)):
            return {"refused": "not an answer"}
        with self._lock:
            r = self._r
            player = r.players.get(player_id)
            card = player.card if player is not None else None
            if not self.on or card is None or card.id != card_id:
                return {"refused": "no such card"}
            if now - card.dealt < MIN_THINK_S:
                return {"refused": "too fast"}
            player.card = None
            if now - card.dealt > CARD_TTL_S:
                return {"refused": "that card ran out of time"}
            right = said_real == card.real
            player.answered += 1
            player.right += right
            r.answers += 1
            r.right += right
            r.changes += 1
            point = r.points.get(card.key)
            if point is not None:
                point.answered += 1
                point.right += right
            return {"verdict": {"right": right, "was_real": card.real, "step": card.step,
                                "score": [player.right, player.answered]}}

    def drop(self, player_id: Any) -> None:
        """A lab that turned out to be the presenter's (its page's token came after the game's
        start reached it): it leaves the game if it has answered nothing."""
        with self._lock:
            player = self._r.players.get(player_id) if isinstance(player_id, str) else None
            if player is not None and player.answered == 0:
                del self._r.players[player_id]

    def unmeasured(self) -> list[str]:
        """Versions on the curve whose D accuracy is not measured yet."""
        with self._lock:
            return [key for key, point in self._r.points.items() if point.d is None]

    def measured(self, key: str, accuracy: float | None) -> None:
        with self._lock:
            point = self._r.points.get(key)
            if point is not None and point.d is None and accuracy is not None:
                point.d = float(accuracy)
                self._r.changes += 1

    def curve(self) -> dict[str, Any]:
        """The class's accuracy per version (by step) beside D's: for the presenter's lab."""
        with self._lock:
            r = self._r
            points = sorted((p.to_json() for p in r.points.values()), key=lambda p: p["step"])
            return {"on": self.on, "round": self.round, "answers": r.answers, "players": len(r.players),
                    "class": r.right / r.answers if r.answers else None, "points": points, "changes": r.changes}


def d_accuracy(model: Any, reals01: np.ndarray, labels: np.ndarray | None, n: int = D_SAMPLES,
               seed: int = 0) -> float | None:
    """D's accuracy on the game's kinds of images, as the class is scored: n real digits and n of
    G's samples from the prior, each called real when D gives it more than 0.5. `model`: a
    gan_app.lab.model.LabGenerator (None when it has no discriminator)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(reals01), size=min(n, len(reals01)), replace=False)
    real_digits = labels[pick] if labels is not None and model.num_classes else None
    on_real = model.judge01(reals01[pick], real_digits)
    if on_real is None:
        return None
    digits = rng.integers(model.num_classes, size=n) if model.num_classes else None
    on_fake = model.judge01(model.images01(model.noise(n, seed), digits), digits)
    return float((np.mean(on_real > 0.5) + np.mean(on_fake <= 0.5)) / 2)
