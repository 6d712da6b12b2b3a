"""Model versions for the browser lab: described from the Keras model, content-addressed, and
the live copy taken once for every lab."""


import keras
import numpy as np
import pytest

from gan_app.lab.browser_model import UnsupportedInBrowser, describe, pack
from gan_app.core.config import RunConfig, get_preset
from gan_app.lab.bundle import Registry, build_bundle
from gan_app.models.dcgan import build_discriminator, build_generator
from gan_app.classroom.feed import LiveFeed
from tests.conftest import wait_for

INFO = {"name": "fast", "step": 0, "latent_dim": 64, "noise": "normal", "output_min": -1.0, "output_max": 1.0}


def test_the_same_weights_are_the_same_version_and_new_weights_a_new_one():
    preset = get_preset("fast")
    g, d = build_generator(preset), build_discriminator(preset)
    first, again = build_bundle(g, d, INFO), build_bundle(g, d, INFO)
    assert first.key == again.key and first.blob == again.blob  # immutable URLs can be cached for good
    dense = next(layer for layer in g.layers if hasattr(layer, "kernel"))  # G's first Dense
    dense.kernel.assign(dense.kernel * 1.01)
    assert build_bundle(g, d, INFO).key != first.key
    ops = [node["op"] for node in first.manifest["generator"]["nodes"]]
    # fast's G: z picks a group, whose embedding joins z, then the DCGAN
    assert ops[:6] == ["latent_group", "embedding", "concatenate", "dense", "batch_norm", "relu"] and ops[-1] == "conv2d"
    assert set(first.manifest["directions"]) == {"SeFa", "PCA"}
    assert np.asarray(first.manifest["directions"]["SeFa"]["directions"]).shape == (5, 64)


def test_kernels_travel_as_float16_and_small_arrays_as_float32():
    big, small = np.ones((200, 200), np.float32), np.full(10, 0.1, np.float32)
    specs, blob = pack([("k", big), ("b", small)])
    assert specs[0]["quantization"] == {"dtype": "float16"} and "quantization" not in specs[1]
    assert len(blob) == big.size * 2 + small.size * 4


def test_a_layer_the_browser_cannot_build_is_named():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.GaussianNoise(0.1)])
    with pytest.raises(UnsupportedInBrowser, match="GaussianNoise"):
        describe(model, [])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softplus")])
    with pytest.raises(UnsupportedInBrowser, match="softplus"):
        describe(model, [])


def test_the_live_copy_is_taken_when_due_and_once_for_everyone(tmp_path):
    from gan_app.live.trainer import LiveTrainer

    trainer = LiveTrainer(RunConfig(preset="fast"), checkpoint_dir=tmp_path / "live")
    feed = LiveFeed(lambda: trainer, Registry(), min_s=0.0)  # paced by steps alone first
    try:
        assert feed.refresh() is None  # nothing trained yet
        trainer.step_once("both")
        wait_for(lambda: trainer.snapshot().step >= 1)
        first = feed.refresh()
        assert first is not None and feed.copies == 1
        assert feed.refresh() == first and feed.copies == 1  # not due: every lab gets the same copy
        feed.every_steps = 2
        for _ in range(2):
            trainer.step_once("both")
        wait_for(lambda: trainer.snapshot().step >= 3)
        second = feed.refresh()
        assert second.key != first.key and second.step >= 3 and feed.copies == 2
        assert feed.refresh(force=True).step == second.step and feed.copies == 3  # the presenter's Refresh
        feed.min_s = 3600.0  # a GPU's 500 steps in a second: steps alone do not make a copy due
        for _ in range(2):
            trainer.step_once("both")
        wait_for(lambda: trainer.snapshot().step >= 5)
        assert feed.refresh() == feed.current and feed.copies == 3
        feed.every_steps, feed.max_s = 10_000, 0.0  # a slow CPU: a minute without a copy makes one due
        assert feed.refresh().step >= 5 and feed.copies == 4
        trainer.reset()
        trainer.step_once("both")
        wait_for(lambda: trainer.snapshot().run_id != second.run_id and trainer.snapshot().step >= 1)
        assert feed.refresh().run_id != second.run_id  # after a Reset the old copy is never shown
    finally:
        trainer.close()
