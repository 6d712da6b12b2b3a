"""The tutorials' recipe as one training step: compile D; `trainable = False`; compile the combined
`gan`; `train_on_batch` with `generator.predict`. Made correct for Keras 3: Keras captures a
model's trainable weights when its train function is first traced, so D.trainable must be True
at D's first train_on_batch and False at gan's first (REFERENCE.md). It is the baseline the
benchmark compares gan_app.train.step.FusedStep against; `train` returns the same rows.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gan_app.core.config import Preset
from gan_app.data.groups import groups_of_z
from gan_app.models.dcgan import build_discriminator, build_generator, fit_generator_groups, group_layer
from gan_app.train.step import EPS, generate, judge, make_optimizer, sample_noise


class ClassicStep:
    """The tutorials' Keras recipe, with the Keras 3 freeze fixed. Same `train` as FusedStep."""

    def __init__(self, preset: Preset, images: np.ndarray, seed: int = 0, labels: np.ndarray | None = None) -> None:
        if preset.num_classes:
            raise ValueError("the tutorials' classic recipe is unconditional: train a conditional preset with --mode fused")
        keras.utils.set_random_seed(seed)
        self.preset = preset
        self.images = np.asarray(images, np.float32)
        self.np_rng = np.random.default_rng(seed)
        self.generator = build_generator(preset)
        self.discriminator = build_discriminator(preset)
        # A grouped preset: D is told each image's group (a real one's nearest, a fake's from z)
        self.groups = fit_generator_groups(self.generator, self.images, preset, seed) if preset.groups else None
        mean_output = keras.metrics.MeanMetricWrapper(lambda _, p: keras.ops.mean(p), name="mean_output")
        self.discriminator.compile(
            loss="binary_crossentropy", optimizer=make_optimizer(preset, preset.d_lr), metrics=[mean_output]
        )
        self.discriminator.trainable = False
        g_input = keras.Input((preset.latent_dim,))
        if self.groups is None:
            self.gan = keras.Model(g_input, self.discriminator(self.generator(g_input)), name="gan")
        else:
            group = keras.Input((), dtype="int32")
            self.gan = keras.Model([g_input, group], self.discriminator([self.generator(g_input), group]), name="gan")
        g_loss = "binary_crossentropy" if preset.loss == "nonsaturating" else _minimax_loss
        self.gan.compile(loss=g_loss, optimizer=make_optimizer(preset, preset.g_lr))
        self.true = np.ones((preset.batch_size, 1), np.float32)
        self.fake = np.zeros((preset.batch_size, 1), np.float32)

    def _iteration(self) -> list[float]:
        b = self.preset.batch_size
        for _ in range(self.preset.k):
            # The fix: D must be trainable when its train function is first traced.
            self.discriminator.trainable = True
            idx = self.np_rng.integers(0, len(self.images), b)
            real = self.discriminator.train_on_batch(self._told(self.images[idx], idx), self.true, return_dict=True)
            noise = sample_noise(self.np_rng, b, self.preset)
            gen_imgs = self.generator.predict(noise, verbose=0)
            fake = self.discriminator.train_on_batch(self._told(gen_imgs, noise), self.fake, return_dict=True)
        self.discriminator.trainable = False
        g_loss = float(self.gan.train_on_batch(self._told(noise, noise), self.true))
        d_loss = 0.5 * (real["loss"] + fake["loss"])
        return [d_loss, real["loss"], fake["loss"], g_loss, real["mean_output"], fake["mean_output"]]

    def _told(self, x: np.ndarray, source: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """x, or [x, its groups] for a grouped preset: the real images' (indices as `source`)
        or those the latents `source` pick."""
        if self.groups is None:
            return x
        if source.dtype.kind == "f":
            return [x, groups_of_z(source, np.asarray(group_layer(self.generator).cuts))]
        return [x, self.groups[source]]

    def train(self, n: int = 1) -> np.ndarray:
        return np.array([self._iteration() for _ in range(n)], np.float32)

    @property
    def sampler(self) -> keras.Model:
        return self.generator  # the tutorials' recipe keeps no moving average

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return generate(self.generator, z)

    def judge(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return judge(self.discriminator, images, labels, self.generator)


def _minimax_loss(_: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
    return keras.ops.mean(keras.ops.log(keras.ops.clip(1.0 - p, EPS, 1.0)))
