"""The training step: one iteration of Algorithm 1 (k D steps, then one G step).

`FusedStep` is how the app trains: a compiled tf.function with GradientTape and explicit
variable lists, real batches and noise drawn on the device from a seeded tf.random.Generator,
and the generated batch reused for the G update (one generator forward pass fewer). With a
preset's `ema`, it also keeps a moving average of G's weights, and samples come from that; with
its `r1`, D's loss carries the R1 gradient penalty on real images. A grouped preset (`fast`)
finds its groups in the images first and tells D each image's group (gan_app.data.groups). With a
mixed `precision` the networks compute in 16 bits and the losses are scaled where float16
needs it; the same code runs on a CPU and a GPU.

The tutorials' recipe, the baseline it is measured against, is gan_app.train.classic.ClassicStep;
both return per-iteration metrics as rows of gan_app.core.config.METRICS, and share the helpers here
(optimizers, noise, generate, judge).
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import tensorflow as tf
import keras

from gan_app.core.config import Preset
from gan_app.core.latent import sample_prior
from gan_app.data.groups import cut_points
from gan_app.models.dcgan import (build_discriminator, build_generator, fit_generator_groups, group_layer, image_groups,
                            with_precision)

EPS = 1e-7  # the clipping Keras' binary cross-entropy applies to probabilities


def make_optimizer(preset: Preset, learning_rate: float, precision: str = "float32") -> keras.optimizers.Optimizer:
    if preset.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(learning_rate)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=preset.beta_1)
    # float16 gradients underflow: the loss is scaled up before differentiating (scale_loss), and
    # the gradients scaled back, a step with Inf or NaN in them skipped, before they are applied
    return keras.optimizers.LossScaleOptimizer(optimizer) if precision == "mixed_float16" else optimizer


def sample_noise(rng: np.random.Generator, n: int, preset: Preset) -> np.ndarray:
    """n latent vectors from the preset's prior, as float32 (n, latent_dim)."""
    return sample_prior(rng, n, preset.latent_dim, preset.noise)


def device_name() -> str:
    """The GPU TensorFlow trains on, else the CPU with its core count."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return str(details.get("device_name", "GPU"))
    return f"CPU ({os.cpu_count()} cores)"


def _log(p: tf.Tensor) -> tf.Tensor:
    return tf.math.log(tf.clip_by_value(p, EPS, 1.0 - EPS))


class FusedStep:
    """A DCGAN and its optimizers, trained by a compiled step. Learning rates, loss and k
    are variables, so they change between calls without retracing."""

    def __init__(self, preset: Preset, images: np.ndarray, seed: int = 0, labels: np.ndarray | None = None,
                 precision: str = "float32") -> None:
        """`labels` (int, one per image) are required by a conditional preset and ignored otherwise.
        `precision`: float32, or mixed_bfloat16 / mixed_float16 (16-bit activations, float32
        weights; float16 with dynamic loss scaling)."""
        keras.utils.set_random_seed(seed)  # weight initialisation and dropout masks
        self.preset = preset
        self.conditional = bool(preset.num_classes)
        if self.conditional and labels is None:
            raise ValueError(f"preset {preset.name!r} is conditional: it needs the images' labels")
        self.grouped = bool(preset.groups)
        self.told = self.conditional or self.grouped  # D reads [image, digit or group]
        self.generator = build_generator(preset)
        self.discriminator = build_discriminator(preset)
        if self.grouped:
            labels = fit_generator_groups(self.generator, images, preset, seed)
        self.precision = precision
        self.generator = with_precision(self.generator, precision)
        self.discriminator = with_precision(self.discriminator, precision)
        self.g_optimizer = make_optimizer(preset, preset.g_lr, precision)
        self.d_optimizer = make_optimizer(preset, preset.d_lr, precision)
        # The moving average of G (None without the preset's ema): what samples are drawn from.
        self.averaged: keras.Model | None = None
        if preset.ema:
            self.averaged = with_precision(build_generator(preset), precision)
            self.averaged.set_weights(self.generator.get_weights())
            if self.grouped:
                # G trains on every group equally often; the average, which draws every sample,
                # picks them as often as the data has them (FID 16 instead of 21 at 4,000 steps).
                layer = group_layer(self.generator)
                layer.cuts.assign(cut_points(np.full(preset.groups, 1.0 / preset.groups), preset.noise))
        fixed = {id(v) for v in group_layer(self.generator).weights} if self.grouped else set()
        self._averaged_pairs = [] if self.averaged is None else [  # the groups are not averaged
            (avg, w) for avg, w in zip(self.averaged.weights, self.generator.weights) if id(w) not in fixed]
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.rng = tf.random.Generator.from_seed(seed)
        self.real_images = tf.constant(images, tf.float32)  # the whole dataset lives on the device
        # A variable: a restored run's groups replace the ones found at the start (sync_groups)
        self.real_labels = tf.Variable(labels, dtype=tf.int32, trainable=False) if self.told else None
        self.batch_size = preset.batch_size
        self.minimax = tf.Variable(preset.loss == "minimax", trainable=False, name="minimax")
        self.k = tf.Variable(preset.k, trainable=False, name="k", dtype=tf.int32)

    # Settings that apply live -------------------------------------------------------------
    def set_live(
        self, d_lr: float | None = None, g_lr: float | None = None, loss: str | None = None, k: int | None = None
    ) -> None:
        if d_lr is not None:
            self.d_optimizer.learning_rate = d_lr
        if g_lr is not None:
            self.g_optimizer.learning_rate = g_lr
        if loss is not None:
            self.minimax.assign(loss == "minimax")
        if k is not None:
            self.k.assign(k)

    # Building blocks ----------------------------------------------------------------------
    def _noise(self, n: int) -> tf.Tensor:
        shape = (n, self.preset.latent_dim)
        if self.preset.noise == "uniform":
            return self.rng.uniform(shape, -1.0, 1.0)
        return self.rng.normal(shape)

    def _labels(self, n: int) -> tf.Tensor | None:
        """Digits to draw, uniform (None for an unconditional preset)."""
        return self.rng.uniform((n,), 0, self.preset.num_classes, dtype=tf.int32) if self.conditional else None

    def _real_batch(self) -> tuple[tf.Tensor, tf.Tensor | None]:
        """Real images and, where D is told, their digits or groups."""
        n = tf.shape(self.real_images, out_type=tf.int64)[0]
        idx = self.rng.uniform((self.batch_size,), 0, n, dtype=tf.int64)
        return tf.gather(self.real_images, idx), (tf.gather(self.real_labels, idx) if self.told else None)

    def _fake_inputs(self, n: int) -> tuple[tf.Tensor, tf.Tensor | None]:
        """Latents for G and what D is told of each fake: the digit G is asked for, or the group
        z picks (None when D is told nothing)."""
        y = self._labels(n)
        z = self._noise(n)
        if self.grouped:
            y = group_layer(self.generator)(z)
        return z, y

    def _fake_batch(self) -> tuple[tf.Tensor, tf.Tensor | None]:
        """Generated images and the digits (or groups) they were asked for."""
        z, y = self._fake_inputs(self.batch_size)
        return self._g(self.generator, z, y, training=True), y

    def _g(self, generator: keras.Model, z: tf.Tensor, y: tf.Tensor | None, training: bool) -> tf.Tensor:
        return generator([z, y] if self.conditional else z, training=training)

    def _d(self, batch: tuple[tf.Tensor, tf.Tensor | None], training: bool) -> tf.Tensor:
        x, y = batch
        return self.discriminator([x, y] if self.told else x, training=training)

    def sync_groups(self) -> None:
        """After G's weights were restored: the real images' groups by G's group means."""
        if self.grouped:
            self.real_labels.assign(image_groups(self.generator, self.real_images.numpy()))

    def _d_losses(
        self, real: tuple, fake: tuple, training: bool = True, p_real: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, ...]:
        if p_real is None:
            p_real = self._d(real, training=training)
        p_fake = self._d(fake, training=training)
        d_loss_real = -tf.reduce_mean(_log(p_real))
        d_loss_fake = -tf.reduce_mean(_log(1.0 - p_fake))
        d_loss = 0.5 * (d_loss_real + d_loss_fake)  # the tutorial's d_loss
        return d_loss, d_loss_real, d_loss_fake, tf.reduce_mean(p_real), tf.reduce_mean(p_fake)

    def _g_loss(self, fake: tuple) -> tf.Tensor:
        # D is a fixed function here (training=False): no D weight, trainable or BatchNorm
        # statistic, changes during the G update.
        p = self._d(fake, training=False)
        nonsaturating = -tf.reduce_mean(_log(p))  # maximise log D(G(z))
        minimax = tf.reduce_mean(_log(1.0 - p))  # minimise log(1 - D(G(z))), eq. 1
        return tf.where(self.minimax, minimax, nonsaturating)

    def _r1_penalty(self, real: tuple) -> tuple[tf.Tensor, tf.Tensor]:
        """R1 (Mescheder et al., 2018): the mean squared gradient of D's logit at real images,
        and D's outputs there (D's loss reuses this forward pass). The logit is recovered from
        D's sigmoid output; where that is clipped the gradient is 0."""
        with tf.GradientTape() as tape:
            tape.watch(real[0])
            p_real = self._d(real, training=True)
            p = tf.clip_by_value(p_real, EPS, 1.0 - EPS)
            logit = tf.math.log(p) - tf.math.log(1.0 - p)
        grad = tape.gradient(logit, real[0])
        return tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3])), p_real

    def _d_update(self, real: tuple, fake: tuple) -> tuple[tf.Tensor, ...]:
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            # R1 is fixed per run (decided when the step is traced); D's loss reuses its forward
            # pass on the real batch.
            penalty, p_real = self._r1_penalty(real) if self.preset.r1 else (0.0, None)
            results = self._d_losses(real, (tf.stop_gradient(fake[0]), fake[1]), p_real=p_real)
            loss = self.d_optimizer.scale_loss(results[0] + 0.5 * self.preset.r1 * penalty)
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, d_vars), d_vars))
        return results

    def _watch_g(self, tape: tf.GradientTape) -> None:
        # Only G's variables: the D update recorded under this tape costs no extra memory.
        tape.watch([v.value for v in self.generator.trainable_variables])

    def _g_update(self, tape: tf.GradientTape, scaled_loss: tf.Tensor) -> None:
        """Apply the gradient of G's loss, scaled inside `tape` by G's optimizer (scale_loss)."""
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled_loss, g_vars), g_vars))
        if self.averaged is not None:
            # The decay grows from 0.1 to the preset's ema over the first G steps, so the
            # average does not drag the untrained start along (BatchNorm statistics included).
            t = tf.cast(self.g_optimizer.iterations, tf.float32)
            decay = tf.minimum(self.preset.ema, t / (9.0 + t))
            for avg, w in self._averaged_pairs:
                avg.assign(decay * avg + (1.0 - decay) * w)

    def _iteration(self) -> tf.Tensor:
        for _ in tf.range(self.k - 1):
            # Train the discriminator (extra steps of Algorithm 1's inner loop)
            self._d_update(self._real_batch(), self._fake_batch())
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            self._watch_g(g_tape)
            fake = self._fake_batch()
            # Train the discriminator on a real batch and on this fake batch
            d_loss, d_loss_real, d_loss_fake, d_real, d_fake = self._d_update(self._real_batch(), fake)
            # Train the generator through the updated D, reusing the same generated batch
            g_loss = self._g_loss(fake)
            scaled = self.g_optimizer.scale_loss(g_loss)
        self._g_update(g_tape, scaled)
        return tf.stack([d_loss, d_loss_real, d_loss_fake, g_loss, d_real, d_fake])

    @tf.function
    def _train(self, n: tf.Tensor) -> tf.Tensor:
        rows = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            rows = rows.write(i, self._iteration())
        return rows.stack()

    @tf.function
    def _step_d(self) -> tf.Tensor:
        fake = self._fake_batch()
        d_loss, d_loss_real, d_loss_fake, d_real, d_fake = self._d_update(self._real_batch(), fake)
        return tf.stack([d_loss, d_loss_real, d_loss_fake, self._g_loss(fake), d_real, d_fake])

    @tf.function
    def _step_g(self) -> tf.Tensor:
        with tf.GradientTape(watch_accessed_variables=False) as g_tape:
            self._watch_g(g_tape)
            fake = self._fake_batch()
            g_loss = self._g_loss(fake)
            scaled = self.g_optimizer.scale_loss(g_loss)
        # Evaluated for the chart only: training=False leaves D's BatchNorm statistics alone.
        d_loss, d_loss_real, d_loss_fake, d_real, d_fake = self._d_losses(self._real_batch(), fake, training=False)
        self._g_update(g_tape, scaled)
        return tf.stack([d_loss, d_loss_real, d_loss_fake, g_loss, d_real, d_fake])

    # Public API ---------------------------------------------------------------------------
    def train(self, n: int = 1) -> np.ndarray:
        """Run n full iterations in one call; returns float32 (n, len(METRICS))."""
        return self._train(tf.constant(n, tf.int32)).numpy()

    def step_d(self) -> np.ndarray:
        """One D update only (GAN Lab's step mode); G's loss is evaluated, not applied."""
        return self._step_d().numpy()[None]

    def step_g(self) -> np.ndarray:
        """One G update only; D's losses are evaluated on a real batch, not applied."""
        return self._step_g().numpy()[None]

    @property
    def sampler(self) -> keras.Model:
        """The generator samples, quality and exports come from: G's moving average, or G."""
        return self.generator if self.averaged is None else self.averaged

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return generate(self.sampler, z, labels)

    def judge(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return judge(self.discriminator, images, labels, self.generator)


def judge(discriminator: keras.Model, images: np.ndarray, labels: np.ndarray | None = None,
          generator: keras.Model | None = None) -> np.ndarray:
    """D's probability that each image (in the preset's range) is real, (N,); a conditional D
    judges each image as the digit in `labels`, a grouped one (given no labels) as the group of
    `generator` whose mean image is nearest."""
    x = tf.constant(images, tf.float32)
    if len(discriminator.inputs) == 2:
        if labels is None and generator is not None:
            labels = image_groups(generator, images)
        if labels is None:
            raise ValueError("a conditional discriminator needs the digits (or groups) the images claim to be")
        return np.asarray(discriminator([x, tf.constant(labels, tf.int32)], training=False))[:, 0]
    return np.asarray(discriminator(x, training=False))[:, 0]


def generate(generator: keras.Model, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Images for latent vectors z (and, for a conditional generator, the digits to draw), in
    inference mode (never `predict` in a loop)."""
    z = tf.constant(z, tf.float32)
    if len(generator.inputs) == 2:
        if labels is None:
            raise ValueError("a conditional generator needs the digits to draw")
        return np.asarray(generator([z, tf.constant(labels, tf.int32)], training=False))
    return np.asarray(generator(z, training=False))


class TrainingStep(Protocol):
    """What a run needs of a step object (FusedStep, gan_app.train.classic.ClassicStep, or a test's stand-in)."""

    preset: Preset
    generator: keras.Model
    discriminator: keras.Model

    def train(self, n: int = 1) -> np.ndarray: ...

    @property
    def sampler(self) -> keras.Model: ...

    def generate(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray: ...

    def judge(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray: ...
