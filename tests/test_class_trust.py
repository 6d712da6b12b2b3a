"""A class you can trust, piece by piece: what a tab sends is checked before the class sees it,
the server's Find cannot hang, and one client cannot take every slot."""

import math
import threading
import time

import numpy as np
import pytest

from gan_app.lab.points import (NAME_CHARS, PER_VERSION, AnswerError, ClassPoints, checked_answer, clean_name)
from gan_app.lab.find_queue import FindQueue
from gan_app.ui.socket_guard import ConnectionCap

LATENT = 8


def answer(**changes):
    good = {"z": [0.5] * LATENT, "digit": None, "image": [0.25] * 784, "mse": 0.01, "seconds": 2.5}
    return {**good, **changes}


def test_a_good_answer_passes_as_the_model_needs_it():
    checked = checked_answer(answer(), LATENT, 0, 1.0)
    assert checked["z"].dtype == np.float32 and checked["z"].shape == (LATENT,)
    assert checked["image01"].shape == (28, 28, 1) and checked["digit"] is None
    assert checked_answer(answer(digit=9), LATENT, 10, 1.0)["digit"] == 9


@pytest.mark.parametrize("changes, why", [
    ({"z": [0.5] * (LATENT + 1)}, "z must be 8 numbers"),
    ({"z": [0.5] * 100_000}, "z must be 8 numbers"),  # megabytes of z are never kept or sent
    ({"z": [math.nan] + [0.5] * (LATENT - 1)}, "finite"),
    ({"z": [math.inf] + [0.5] * (LATENT - 1)}, "finite"),
    ({"z": [1e30] + [0.5] * (LATENT - 1)}, "within 8 of 0"),
    ({"z": ["0.5"] * LATENT}, "numbers only"),
    ({"z": [True] * LATENT}, "numbers only"),
    ({"z": "0.5"}, "z must be 8 numbers"),
    ({"digit": 3}, "no chosen digit"),
    ({"image": [0.25] * 783}, "784 numbers"),
    ({"image": [2.0] * 784}, "[0, 1]"),
    ({"mse": -1}, "the error"),
    ({"mse": math.nan}, "the error"),
    ({"seconds": 1e12}, "the search time"),
])
def test_a_forged_answer_is_refused_in_one_line(changes, why):
    with pytest.raises(AnswerError, match=why.replace("[", r"\[").replace("]", r"\]")) as refused:
        checked_answer(answer(**changes), LATENT, 0, 1.0)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("digit", [10, -1, 2.5, "3", None, True])
def test_a_conditional_models_digit_must_be_one_it_draws(digit):
    with pytest.raises(AnswerError):
        checked_answer(answer(digit=digit), LATENT, 10, 1.0)


def test_a_uniform_prior_bounds_z_tighter():
    sigma = 1 / math.sqrt(3)
    checked_answer(answer(z=[4.0] * LATENT), LATENT, 0, sigma)
    with pytest.raises(AnswerError):
        checked_answer(answer(z=[5.0] * LATENT), LATENT, 0, sigma)


def test_names_are_plain_text_of_at_most_24_characters():
    assert clean_name("  Ana\n<b>bold</b>\t\u202eevil\x00 ") == "Ana <b>bold</b> evil"[:NAME_CHARS]
    assert len(clean_name("x" * 10_000)) == NAME_CHARS
    assert clean_name("\n\t ") == clean_name(None) == clean_name(["list"]) == "a student"


def test_the_class_gets_compact_points_and_the_presenter_can_hide_or_clear_them():
    points = ClassPoints()
    heard = []
    points.listener = lambda version, sent: heard.append((version, sent))
    z = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    for i in range(PER_VERSION + 10):
        points.share("v1", f"student {i}", z, None)
    sent = points.as_json("v1")
    assert len(sent) == PER_VERSION and all(len(str(v)) <= 7 for v in sent[0]["z"])  # 3 decimals
    label = sent[0]["name"]
    assert points.hide("v1", label) and label not in points.of("v1") and not points.hide("v1", label)
    assert heard[-1] == ("v1", points.as_json("v1"))
    points.clear("v1")
    assert points.of("v1") == {} and heard[-1] == ("v1", [])
    for version in range(20):  # a new live version every copy: only the newest few are kept
        points.share(f"v{version + 2}", "a", z, None)
    assert len(points._points) == points.versions


class _Projector:
    """Stands in for gan_app.lab.inversion.Projector: a search that takes `seconds` (or fails)."""

    def __init__(self, seconds: float = 0.0, error: BaseException | None = None) -> None:
        self.seconds, self.error = seconds, error

    def project_many(self, targets, **_):
        time.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        return [float(t.sum()) for t in targets]


def test_the_servers_find_runs_on_its_own_worker_and_an_asker_that_leaves_stops_nobody():
    queue = FindQueue(gather_s=0.2)
    projector = _Projector(seconds=0.5)
    results: dict[int, object] = {}

    def ask(i: int) -> None:
        results[i] = queue.find("v", lambda: projector, np.full(3, i, np.float32))

    leaver = threading.Thread(target=ask, args=(0,), daemon=True)
    leaver.start()  # this asker never reads its answer: like a page run stopped by a rerun
    threads = [threading.Thread(target=ask, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results[1] == 3.0 and results[2] == 6.0
    assert queue._worker is not None and queue._worker.name == "find-queue"
    assert threading.current_thread() is not queue._worker


def test_a_search_that_fails_or_hangs_answers_in_one_line_and_the_queue_goes_on():
    queue = FindQueue(gather_s=0.0, wait_s=1.0)
    with pytest.raises(RuntimeError, match="the search failed: broken"):
        queue.find("a", lambda: _Projector(error=ValueError("broken")), np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match="the search took longer than 1 s"):
        queue.find("b", lambda: _Projector(seconds=3.0), np.zeros(3, np.float32))
    queue.wait_s = 10.0
    assert queue.find("c", lambda: _Projector(), np.ones(3, np.float32)) == 3.0  # once the slow one is over


def test_a_worker_stopped_by_a_base_exception_is_replaced():
    queue = FindQueue(gather_s=0.0, wait_s=10.0)
    with pytest.raises(RuntimeError, match="stopped|failed"):
        queue.find("a", lambda: _Projector(error=SystemExit()), np.zeros(3, np.float32))
    queue._worker.join(5)
    assert not queue._worker.is_alive()
    assert queue.find("b", lambda: _Projector(), np.ones(3, np.float32)) == 3.0


def test_one_client_cannot_take_every_slot():
    cap = ConnectionCap(10, per_client=3)
    assert all(cap.try_acquire("203.0.113.1") for _ in range(3))
    assert not cap.try_acquire("203.0.113.1") and "already has 3" in cap.refusal("203.0.113.1")
    assert all(cap.try_acquire(f"203.0.113.{i}") for i in range(2, 9))  # the others still get in
    assert cap.open == 10 and "all 10" in cap.refusal("203.0.113.99")
    cap.release("203.0.113.1")
    assert cap.try_acquire("203.0.113.1")
    with pytest.raises(RuntimeError):
        cap.release("198.51.100.1")  # never held one


def test_a_dataset_is_replaced_only_when_the_presenter_says_so(tmp_path):
    from gan_app.core.errors import GanAppError
    from gan_app.ui.train.dataset_upload import _save

    target = tmp_path / "datasets" / "ours.npz"
    _save(target, b"first", replace=False)
    with pytest.raises(GanAppError, match="already a dataset"):
        _save(target, b"second", replace=False)
    assert target.read_bytes() == b"first"
    _save(target, b"second", replace=True)
    assert target.read_bytes() == b"second"
