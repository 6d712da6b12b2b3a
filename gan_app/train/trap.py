"""The Keras 3 trap of the tutorials' recipe, run for real (tutorial 000, "network vs model").

The tutorials compile D, set `discriminator.trainable = False`, compile the combined `gan`, then
train with `train_on_batch`. Keras 3 captures a model's trainable weights when its train
function is first traced (at the first `train_on_batch`), not at `compile()`: with the flag
already False at D's first call, D never learns. `run_trap()` trains the tutorial's own networks
(tutorial 003's DCGAN) one batch each way, as written and with the flag set right before each
model's first call, and reports how far each network's weights moved.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

RECIPES = {
    "as written": "trainable = False before compiling gan, left False: D's first train_on_batch sees it False",
    "flag set before each first call": "trainable = True right before D's first train_on_batch, False before gan's",
}


@dataclass(frozen=True)
class TrapResult:
    recipe: str
    d_trainable_at_first_call: int  # weights D's train function captured
    d_moved_by_d_step: float  # largest change of any D weight after D's train_on_batch
    d_moved_by_gan_step: float  # ... after gan's train_on_batch (should be 0 both ways)
    g_moved_by_gan_step: float  # largest change of any G weight after gan's train_on_batch

    @property
    def d_learns(self) -> bool:
        return self.d_moved_by_d_step > 0.0


def _moved(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return float(max(np.abs(a - b).max() for a, b in zip(before, after)))


def run_trap(recipe: str, batch: int = 32) -> TrapResult:
    """One D step and one gan step of the tutorial's recipe, on real digits."""
    import keras

    from gan_app.core.config import get_preset
    from gan_app.data.datasets import DEFAULT_DATASET, load_dataset, scale_to_range
    from gan_app.models.dcgan import build_discriminator, build_generator

    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    preset = get_preset("taehojo")
    generator, discriminator = build_generator(preset), build_discriminator(preset)
    discriminator.compile(loss="binary_crossentropy", optimizer="adam")
    discriminator.trainable = False
    z_in = keras.Input((preset.latent_dim,))
    gan = keras.Model(z_in, discriminator(generator(z_in)))
    gan.compile(loss="binary_crossentropy", optimizer="adam")

    rng = np.random.default_rng(0)
    real = scale_to_range(load_dataset(DEFAULT_DATASET).x[:batch], -1.0, 1.0)
    z = rng.normal(size=(batch, preset.latent_dim)).astype(np.float32)
    ones = np.ones((batch, 1), np.float32)
    if recipe != "as written":
        discriminator.trainable = True  # the fix: the flag D's train function will capture
    captured = len(discriminator.trainable_weights)
    d0 = discriminator.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the model does not have any trainable weights": the point here
        discriminator.train_on_batch(real, ones)
    d1 = discriminator.get_weights()
    discriminator.trainable = False
    g1 = generator.get_weights()
    gan.train_on_batch(z, ones)
    return TrapResult(recipe, captured, _moved(d0, d1), _moved(d1, discriminator.get_weights()),
                      _moved(g1, generator.get_weights()))
