"""Real or fake?: the server deals every card and checks each answer against it (one answer per
card, from its player, at a human pace), keeps each player's score apart and the class's
accuracy per model version beside D's."""

import numpy as np

from gan_app.lab.game import CARD_TTL_S, MAX_PLAYERS, MIN_THINK_S, RealOrFake, Version, d_accuracy

P, Q = "a" * 32, "b" * 32
V1, V2 = Version("k1", 100), Version("k2", 600, num_classes=10)


def _game() -> RealOrFake:
    reals = np.arange(5 * 784, dtype=np.uint16).reshape(5, 784).astype(np.uint8)
    return RealOrFake(lambda: reals, seed=0)


def _truth(game: RealOrFake, player: str) -> bool:
    return game._r.players[player].card.real  # what the server dealt (the test plays a perfect student)


def test_answers_are_checked_against_the_card_dealt():
    game = _game()
    assert game.deal(P, V1, now=0.0) == {"card": None, "why": "the game is not on"}
    game.start()
    assert game.deal("not-hex", V1, now=0.0)["card"] is None
    assert game.deal(P, None, now=0.0)["why"] == "the live run has not trained yet"
    card = game.deal(P, V1, now=0.0)["card"]
    assert ("image" in card) != ("seed" in card)
    if "image" in card:
        assert len(__import__("base64").b64decode(card["image"])) == 784
    else:
        assert card["key"] == "k1" and card["digit"] is None
    truth = _truth(game, P)
    assert game.answer(P, card["id"], truth, now=MIN_THINK_S / 2) == {"refused": "too fast"}
    assert game.answer(Q, card["id"], truth, now=1.0) == {"refused": "no such card"}  # not Q's card
    assert game.answer(P, "0" * 16, truth, now=1.0) == {"refused": "no such card"}
    for forged in [(P, card["id"], "yes"), (P, card["id"], 1), (P, 5, True), ({"x": 1}, card["id"], True)]:
        assert game.answer(*forged, now=1.0) == {"refused": "not an answer"}
    verdict = game.answer(P, card["id"], truth, now=1.0)["verdict"]
    assert verdict == {"right": True, "was_real": truth, "step": 100, "score": [1, 1]}
    assert game.answer(P, card["id"], truth, now=2.0) == {"refused": "no such card"}  # once only

    late = game.deal(P, V2, now=10.0)["card"]
    assert game.answer(P, late["id"], True, now=10.0 + CARD_TTL_S + 1)["refused"] == "that card ran out of time"
    curve = game.curve()
    assert curve["answers"] == 1 and curve["class"] == 1.0 and curve["players"] == 1
    assert [(p["step"], p["answers"]) for p in curve["points"]] == [(100, 1), (600, 0)]


def test_scores_are_per_player_and_the_curve_per_version():
    game = _game()
    game.start()
    now = 0.0
    for player, version, right in [(P, V1, True), (P, V1, False), (Q, V1, True), (Q, V2, True)]:
        card = game.deal(player, version, now=now)["card"]
        now += 1.0
        said = _truth(game, player) if right else not _truth(game, player)
        game.answer(player, card["id"], said, now=now)
        if version is V2 and "seed" in card:
            assert 0 <= card["digit"] < 10
    assert game._r.players[P].right == 1 and game._r.players[P].answered == 2
    assert game._r.players[Q].right == 2
    assert game.unmeasured() == ["k1", "k2"]
    game.measured("k1", 0.75)
    game.measured("nope", 0.5)
    curve = game.curve()
    assert curve["points"] == [{"step": 100, "class": 2 / 3, "answers": 3, "d": 0.75},
                               {"step": 600, "class": 1.0, "answers": 1, "d": None}]
    game.stop()
    assert game.curve()["answers"] == 4 and not game.curve()["on"]  # the curve stays to be shown
    game.start()  # a new game: scores and curve start again
    assert game.curve()["answers"] == 0 and game.round == 2


def test_players_are_bounded_and_the_presenter_holds_the_token():
    game = _game()
    game.start()
    for i in range(MAX_PLAYERS):
        assert game.deal(f"{i:032x}", V1, now=0.0)["card"] is not None
    assert game.deal("f" * 32, V1, now=0.0) == {"card": None, "why": "the game is full"}
    assert game.is_presenter(game.token()) and not game.is_presenter("guess") and not game.is_presenter(None)
    game.drop("0" * 32)  # dealt a card, answered nothing: the presenter's lab, found out late
    game.drop(None)
    assert game.curve()["players"] == MAX_PLAYERS - 1


def test_d_accuracy_judges_reals_and_fakes_of_the_version(mnist5k):
    from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, open_export
    from gan_app.lab.model import LabGenerator

    shipped = LabGenerator.from_export(open_export(SHIPPED_EXPORT))  # ships without its D
    assert d_accuracy(shipped, mnist5k.x[:300], mnist5k.y[:300], n=50) is None
    model = LabGenerator.from_export(open_export(SHIPPED_CONDITIONAL))  # D judges each image as its digit
    accuracy = d_accuracy(model, mnist5k.x[:300], mnist5k.y[:300], n=100)
    assert accuracy == d_accuracy(model, mnist5k.x[:300], mnist5k.y[:300], n=100)  # seeded: the same every time
    on_real = np.mean(model.judge01(mnist5k.x[:300], mnist5k.y[:300]) > 0.5)
    on_fake = np.mean(model.judge01(model.images01(model.noise(300, 5), np.arange(300) % 10), np.arange(300) % 10) <= 0.5)
    assert abs(accuracy - (on_real + on_fake) / 2) < 0.12  # the same measure, on another sample
