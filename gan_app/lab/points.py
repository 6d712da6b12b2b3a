"""The class's found drawings: what one student's Find shares with everyone exploring the same
generator version, and the checks it passes first.

A tab's answer to Find is untrusted (a student can script the page's protocol): before anything
is kept or sent to other tabs, `checked_answer` holds it against the model it claims to be for
(z of the latent size, finite and within the prior's reach; a digit the model draws; a 28x28
image in [0, 1]; a plain error and time). `ClassPoints` keeps a bounded list per version, with
names cleaned to plain text, and sends the class a compact copy (z rounded to 3 decimals). The
presenter can hide one point or clear them all. Nothing here knows Streamlit. In a lecture hall
the list lives in Redis too (`shared`: gan_app.broker.class_bus), so every replica's labs see the
class's drawings, numbered once for the hall, and checked again where they arrive.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from gan_app.core.errors import GanAppError

NAME_CHARS = 24  # a student's name in the list
DEFAULT_NAME = "a student"
PER_VERSION = 32  # drawings kept per generator version
VERSIONS = 8  # generator versions whose drawings are kept (the live run makes a new one every copy)
Z_SIGMAS = 8.0  # a shared z coordinate lies within this many prior standard deviations of 0
Z_DECIMALS = 3  # what the class is sent: enough for the same image, a quarter of the text
IMAGE_SIDE = 28
MAX_SECONDS = 3600.0

Listener = Callable[[str, list[dict[str, Any]]], None]  # (version, the class's points as JSON)


class AnswerError(GanAppError):
    """A tab's answer that is not what it claims to be."""


def clean_name(text: Any) -> str:
    """A name as the list shows it: printable characters only, spaces collapsed, at most
    NAME_CHARS; DEFAULT_NAME when nothing is left."""
    if not isinstance(text, str):
        return DEFAULT_NAME
    kept = "".join(c if unicodedata.category(c)[0] not in "CZ" else " " for c in text[: NAME_CHARS * 8])
    name = " ".join(kept.split())[:NAME_CHARS].strip()
    return name or DEFAULT_NAME


def _numbers(value: Any, count: int, what: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != count:
        raise AnswerError(f"{what} must be {count} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise AnswerError(f"{what} must be numbers only")
    array = np.asarray(value, np.float64)
    if not np.all(np.isfinite(array)):
        raise AnswerError(f"{what} must be finite")
    return array


def _number(value: Any, low: float, high: float, what: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        raise AnswerError(f"{what} must be a number from {low:g} to {high:g}")
    return float(value)


def checked_z(z: Any, latent_dim: int, sigma: float) -> np.ndarray:
    """`z` as float32 (latent_dim,) if it is a latent this model can draw; AnswerError otherwise."""
    array = _numbers(z, latent_dim, "z")
    limit = Z_SIGMAS * sigma
    if np.abs(array).max(initial=0.0) > limit:
        raise AnswerError(f"z must lie within {limit:g} of 0 in every coordinate")
    return array.astype(np.float32)


def checked_digit(digit: Any, num_classes: int) -> int | None:
    """The digit of a conditional model's answer (0 to num_classes - 1); None for any other model."""
    if not num_classes:
        if digit is not None:
            raise AnswerError("this model draws no chosen digit")
        return None
    if not isinstance(digit, int) or isinstance(digit, bool) or not 0 <= digit < num_classes:
        raise AnswerError(f"the digit must be a whole number from 0 to {num_classes - 1}")
    return digit


def checked_answer(answer: Any, latent_dim: int, num_classes: int, sigma: float) -> dict[str, Any]:
    """A tab's Find answer ({z, digit, image, mse, seconds}) held against the model it is for:
    {z float32 (latent_dim,), digit, image01 float32 (28, 28, 1), mse, seconds}, or AnswerError
    naming what is wrong."""
    if not isinstance(answer, dict):
        raise AnswerError("the answer must be an object")
    image = _numbers(answer.get("image"), IMAGE_SIDE * IMAGE_SIDE, "the image")
    if image.min() < 0.0 or image.max() > 1.0:
        raise AnswerError("the image's pixels must lie in [0, 1]")
    return {"z": checked_z(answer.get("z"), latent_dim, sigma),
            "digit": checked_digit(answer.get("digit"), num_classes),
            "image01": image.astype(np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE, 1),
            "mse": _number(answer.get("mse"), 0.0, 1.0, "the error"),
            "seconds": _number(answer.get("seconds"), 0.0, MAX_SECONDS, "the search time")}


def _as_json(entry: tuple[str, np.ndarray, int | None, int | None]) -> dict[str, Any]:
    label, z, digit, reads = entry
    return {"name": label, "z": [round(float(v), Z_DECIMALS) for v in z], "digit": digit, "reads": reads}


def relayed_z(z: Any) -> np.ndarray | None:
    """A z another server of the hall relayed (a shared drawing's, a spotlight's): 1 to 1024
    finite numbers, each within reach of every prior the lab draws; None otherwise."""
    if not (isinstance(z, list) and 1 <= len(z) <= 1024):
        return None
    try:
        array = _numbers(z, len(z), "z")
    except AnswerError:
        return None
    return array if np.abs(array).max(initial=0.0) <= Z_SIGMAS * 2 else None


def small_number(value: Any, top: int) -> bool:
    """None, or a whole number from 0 to `top` - 1 (a relayed digit or classifier reading)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < top)


def checked_point(point: Any) -> tuple[str, np.ndarray, int | None, int | None] | None:
    """A point as another server of the hall sent it ({name, z, digit, reads}, as `as_json`
    writes it), checked again; None if it is not one."""
    if not isinstance(point, dict):
        return None
    label, z, digit, reads = point.get("name"), point.get("z"), point.get("digit"), point.get("reads")
    if not (isinstance(label, str) and 0 < len(label) <= NAME_CHARS + 12 and label.isprintable()
            and " ".join(label.split()) == label):  # a cleaned name and its number
        return None
    array = relayed_z(z)
    if array is None or not (small_number(digit, 100) and small_number(reads, 10)):
        return None
    return label, np.round(array.astype(np.float32), Z_DECIMALS), digit, reads


class ClassPoints:
    """The drawings found per generator version, newest last, bounded; `listener(version, points)`
    hears every change (the lab's socket sends it to the open labs of that version)."""

    def __init__(self, per_version: int = PER_VERSION, versions: int = VERSIONS) -> None:
        self.per_version, self.versions = per_version, versions
        self._lock = threading.Lock()
        self._points: OrderedDict[str, list[tuple[str, np.ndarray, int | None, int | None]]] = OrderedDict()
        self._counts: dict[str, int] = {}  # version -> drawings shared so far (numbers every name)
        self.listener: Listener | None = None
        self.shared: Any = None  # a lecture hall's class bus: the list is the hall's, not this server's
        self._asked: OrderedDict[str, None] = OrderedDict()  # versions already looked up in the hall

    def share(self, version: str, name: str, z: np.ndarray, digit: int | None, reads: int | None = None) -> str:
        """Keep a found drawing (z and digit already checked) under `name`, with the digit the
        server's classifier reads in G(z) (`reads`, for the class map); its label in the list."""
        number = self.shared.number(version) if self.shared is not None else None  # the hall numbers it
        with self._lock:
            points = self._points.setdefault(version, [])
            self._points.move_to_end(version)
            self._counts[version] = number if number is not None else self._counts.get(version, 0) + 1
            label = f"{clean_name(name)} #{self._counts[version]}"
            entry = (label, np.round(np.asarray(z, np.float32), Z_DECIMALS), digit, reads)
            points.append(entry)
            del points[: -self.per_version]
            self._bound()
        if self.shared is not None:
            self.shared.point_added(version, _as_json(entry))
        self._changed(version)
        return label

    def _bound(self) -> None:
        while len(self._points) > self.versions:
            old, _ = self._points.popitem(last=False)
            self._counts.pop(old, None)

    def hide(self, version: str, label: str) -> bool:
        """Take one drawing out of the class's list (the presenter's moderation); False if absent."""
        with self._lock:
            points = self._points.get(version, [])
            kept = [p for p in points if p[0] != label]
            if len(kept) == len(points):
                return False
            self._points[version] = kept
        if self.shared is not None:
            self.shared.point_hidden(version, label)
        self._changed(version)
        return True

    def clear(self, version: str) -> None:
        """Empty the class's list for `version`."""
        with self._lock:
            self._points[version] = []
        if self.shared is not None:
            self.shared.points_cleared(version)
        self._changed(version)

    def replace(self, version: str, points: list[Any]) -> None:
        """The hall's list for `version` (another replica changed it), each point checked as a
        relayed one: a clean label, z finite and within reach, a digit and a reading in range."""
        kept = [p for p in map(checked_point, points[-self.per_version:]) if p is not None]
        with self._lock:
            self._points[version] = kept
            self._points.move_to_end(version)
            self._bound()
        self._changed(version)

    def _look_up(self, version: str) -> None:
        """A version this server has not heard of may have drawings in the hall (a replica that
        started late, a lab of a version another replica made): read them once."""
        if self.shared is None:
            return
        with self._lock:
            if version in self._points or version in self._asked:
                return
            self._asked[version] = None
            while len(self._asked) > 4 * self.versions:
                self._asked.popitem(last=False)
        found = self.shared.points_of(version)
        if found:
            self.replace(version, found)

    def known_versions(self) -> list[str]:
        """The versions whose lists this server holds or has looked up in the hall."""
        with self._lock:
            return list(dict.fromkeys([*self._points, *self._asked]))

    def of(self, version: str) -> dict[str, tuple[np.ndarray, int | None]]:
        """label -> (z, digit), newest first."""
        self._look_up(version)
        with self._lock:
            return {label: (z, digit) for label, z, digit, _ in reversed(self._points.get(version, []))}

    def as_json(self, version: str) -> list[dict[str, Any]]:
        """What the browser lab reads: [{name, z (rounded), digit, reads}], newest first."""
        self._look_up(version)
        with self._lock:
            kept = list(reversed(self._points.get(version, [])))
        return [_as_json(entry) for entry in kept]

    def _changed(self, version: str) -> None:
        if self.listener is not None:
            self.listener(version, self.as_json(version))
