"""Find an image in latent space (GAN inversion by optimisation): the z whose G(z) best matches a
28x28 target, with G fixed. Several random starts run as one batch (one generator call per
step); each moves by Adam on the mean squared error in [0, 1], plus a small pull towards the
prior's shell |z|^2 = d so the result stays a latent the generator knows. A conditional
generator is searched at every digit at once; the best start wins."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from gan_app.latent import sample_prior

STEPS = 150
# Random starts: pixel error has local minima, and more starts found them less often than more
# steps did (12 generator samples: 16 starts x 150 steps recovered all to error <= 0.002 in
# 0.5 s; 6 x 300 left two near 0.03). A conditional generator runs this many at each digit.
RESTARTS, RESTARTS_PER_DIGIT = 16, 4
LEARNING_RATE = 0.08
SHELL_WEIGHT = 0.002  # the pull towards |z|^2 = d: small next to a typical error of 0.02-0.1


@dataclass(frozen=True)
class Projection:
    z: np.ndarray  # float32 (latent_dim,)
    digit: int | None  # the digit the conditional generator drew it as
    image01: np.ndarray  # G(z) in [0, 1], (28, 28, 1)
    mse: float  # mean squared error between G(z) and the target, both in [0, 1]
    seconds: float


class Projector:
    """Inversion for one generator, compiled once (the first call traces; later ones reuse it)."""

    def __init__(self, generator: Any, meta: dict[str, Any]) -> None:
        self.generator, self.meta = generator, meta
        self.latent_dim = int(meta["latent_dim"])
        self.num_classes = int(meta.get("num_classes") or 0)
        self._lo, self._hi = float(meta["output_min"]), float(meta["output_max"])
        self._shell = 1.0 / 3.0 if meta["noise"] == "uniform" else 1.0  # E|z|^2 / d under the prior
        self._search = tf.function(self._search_graph, reduce_retracing=True)

    def _images01(self, z: tf.Tensor, digits: tf.Tensor) -> tf.Tensor:
        out = self.generator([z, digits] if self.num_classes else z, training=False)
        return (tf.reshape(out, (-1, 28, 28, 1)) - self._lo) / (self._hi - self._lo)

    def _search_graph(self, z0: tf.Tensor, digits: tf.Tensor, target: tf.Tensor,
                      steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        d = float(self.latent_dim)
        z, m, v = z0, tf.zeros_like(z0), tf.zeros_like(z0)
        b1, b2 = 0.9, 0.999
        for i in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(z)
                err = tf.reduce_mean(tf.square(self._images01(z, digits) - target), axis=[1, 2, 3])
                shell = tf.square(tf.reduce_sum(tf.square(z), axis=1) / d - self._shell)
                loss = tf.reduce_sum(err + SHELL_WEIGHT * shell)
            g = tape.gradient(loss, z)
            t = tf.cast(i + 1, tf.float32)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            z = z - LEARNING_RATE * (m / (1 - b1**t)) / (tf.sqrt(v / (1 - b2**t)) + 1e-8)
        images = tf.clip_by_value(self._images01(z, digits), 0.0, 1.0)
        return z, tf.reduce_mean(tf.square(images - target), axis=[1, 2, 3]), images

    def project(self, target01: np.ndarray, steps: int = STEPS, restarts: int | None = None, seed: int = 0) -> Projection:
        """The best of `restarts` starts (at each digit, for a conditional generator) after `steps` steps."""
        return self.project_many([target01], steps, restarts, seed)[0]

    def project_many(self, targets01: list[np.ndarray], steps: int = STEPS, restarts: int | None = None,
                     seed: int = 0) -> list[Projection]:
        """project() for several targets in one batch (one generator call per step for all of
        them): each target gets the same starts project() would give it alone."""
        t0 = time.perf_counter()
        per = max(1, int(restarts or (RESTARTS_PER_DIGIT if self.num_classes else RESTARTS)))
        digits = np.repeat(np.arange(self.num_classes), per) if self.num_classes else np.zeros(per, np.int64)
        n = len(digits)
        z0 = sample_prior(np.random.default_rng(seed), n, self.latent_dim, self.meta["noise"])
        targets = np.stack([np.asarray(t, np.float32).reshape(28, 28, 1) for t in targets01])
        z, err, images = (t.numpy() for t in self._search(
            tf.constant(np.tile(z0, (len(targets), 1))), tf.constant(np.tile(digits, len(targets)), tf.int32),
            tf.constant(np.repeat(targets, n, axis=0)), tf.constant(max(1, int(steps)))))
        seconds = time.perf_counter() - t0
        found = []
        for k in range(len(targets)):
            best = k * n + int(np.argmin(err[k * n:(k + 1) * n]))
            found.append(Projection(z[best].astype(np.float32), int(digits[best % n]) if self.num_classes else None,
                                    images[best], float(err[best]), seconds))
        return found
