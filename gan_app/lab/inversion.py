"""Find an image in latent space (GAN inversion by optimisation): the z whose G(z) best matches a
28x28 target, with G fixed. Several random starts run as one batch (one generator call per
step); each moves by Adam on the mean squared error in [0, 1], plus a small pull towards the
prior's shell |z|^2 = d so the result stays a latent the generator knows. A conditional
generator is searched at every digit at once; the best start wins.

A grouped generator (`fast`) picks its group from z's first number, a step function the gradient
cannot cross: random starts would try about 16 of its 50 groups, whichever they fell in. Its
starts go to the groups whose mean image is nearest the target instead (GROUPS_SEARCHED of them,
the starts dealt out in turn, nearest first), and z's first number stays where it was put, so
each start keeps its group. The tab's search (find.js) places its starts the same way."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from gan_app.data.groups import first_numbers_in, nearest_groups
from gan_app.core.latent import sample_prior
from gan_app.models.dcgan import group_layer

STEPS = 150
# Random starts: pixel error has local minima, and more starts found them less often than more
# steps did (12 generator samples: 16 starts x 150 steps recovered all to error <= 0.002 in
# 0.5 s; 6 x 300 left two near 0.03). A conditional generator runs this many at each digit.
RESTARTS, RESTARTS_PER_DIGIT = 16, 4
LEARNING_RATE = 0.08
SHELL_WEIGHT = 0.002  # the pull towards |z|^2 = d: small next to a typical error of 0.02-0.1
GROUPS_SEARCHED = 4  # a grouped G: the starts go to this many groups, those nearest the target
# The tab's budget (find.js: STEPS, SCREEN, KEEP): every start takes 20 steps, the best 2 go on to 120
TAB_STEPS, TAB_SCREEN, TAB_KEEP = 120, 20, 2


@dataclass(frozen=True)
class Projection:
    z: np.ndarray  # float32 (latent_dim,)
    digit: int | None  # the digit the conditional generator drew it as
    image01: np.ndarray  # G(z) in [0, 1], (28, 28, 1)
    mse: float  # mean squared error between G(z) and the target, both in [0, 1]
    seconds: float


class Projector:
    """Inversion for one generator, compiled once (the first call traces; later ones reuse it)."""

    def __init__(self, generator: Any, meta: dict[str, Any], group_starts: bool = True) -> None:
        """`group_starts=False`: a grouped G's starts are random draws too (the benchmark's
        comparison)."""
        self.generator, self.meta = generator, meta
        self.latent_dim = int(meta["latent_dim"])
        self.num_classes = int(meta.get("num_classes") or 0)
        self._lo, self._hi = float(meta["output_min"]), float(meta["output_max"])
        self._shell = 1.0 / 3.0 if meta["noise"] == "uniform" else 1.0  # E|z|^2 / d under the prior
        pick = None if self.num_classes or not group_starts else group_layer(generator)
        self.groups = None if pick is None else (np.asarray(pick.means), np.asarray(pick.cuts))
        # A grouped G's starts keep z's first number (their group): it takes no step
        self._moves = np.ones(self.latent_dim, np.float32)
        if self.groups is not None:
            self._moves[0] = 0.0
        self._search = tf.function(self._search_graph, reduce_retracing=True)

    def _images01(self, z: tf.Tensor, digits: tf.Tensor) -> tf.Tensor:
        out = self.generator([z, digits] if self.num_classes else z, training=False)
        return (tf.reshape(out, (-1, 28, 28, 1)) - self._lo) / (self._hi - self._lo)

    def _search_graph(self, z: tf.Tensor, m: tf.Tensor, v: tf.Tensor, done: tf.Tensor, steps: tf.Tensor,
                      digits: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """`steps` Adam steps from z (with its moments m, v after `done` steps): z, m, v, each
        start's error and its images."""
        d = float(self.latent_dim)
        b1, b2 = 0.9, 0.999
        moves = tf.constant(self._moves)
        for i in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(z)
                err = tf.reduce_mean(tf.square(self._images01(z, digits) - target), axis=[1, 2, 3])
                shell = tf.square(tf.reduce_sum(tf.square(z), axis=1) / d - self._shell)
                loss = tf.reduce_sum(err + SHELL_WEIGHT * shell)
            g = tape.gradient(loss, z) * moves
            t = tf.cast(done + i + 1, tf.float32)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            z = z - LEARNING_RATE * (m / (1 - b1**t)) / (tf.sqrt(v / (1 - b2**t)) + 1e-8)
        images = tf.clip_by_value(self._images01(z, digits), 0.0, 1.0)
        return z, m, v, tf.reduce_mean(tf.square(images - target), axis=[1, 2, 3]), images

    def starts(self, target01: np.ndarray, n: int, seed: int) -> np.ndarray:
        """The n starts (float32, (n, latent_dim)) for one target: draws from the prior, and for a
        grouped G, z's first number inside the GROUPS_SEARCHED groups nearest the target, the
        starts dealt out in turn, nearest first."""
        z0 = sample_prior(np.random.default_rng(seed), n, self.latent_dim, self.meta["noise"])
        if self.groups is not None:
            means, cuts = self.groups
            target = self._lo + np.asarray(target01, np.float32).reshape(1, 28, 28, 1) * (self._hi - self._lo)
            nearest = nearest_groups(target, means, GROUPS_SEARCHED)
            z0[:, 0] = first_numbers_in(nearest[np.arange(n) % len(nearest)], cuts, self.meta["noise"])
        return z0

    def project(self, target01: np.ndarray, steps: int = STEPS, restarts: int | None = None, seed: int = 0,
                screen: int = 0, keep: int = 0) -> Projection:
        """The best of `restarts` starts (at each digit, for a conditional generator) after `steps` steps."""
        return self.project_many([target01], steps, restarts, seed, screen, keep)[0]

    def project_many(self, targets01: list[np.ndarray], steps: int = STEPS, restarts: int | None = None,
                     seed: int = 0, screen: int = 0, keep: int = 0) -> list[Projection]:
        """project() for several targets in one batch (one generator call per step for all of
        them): each target gets the same starts project() would give it alone. With `screen`
        and `keep`, find.js's budget: every start takes `screen` steps, then only each target's
        `keep` best go on (with their Adam moments) to `steps`."""
        t0 = time.perf_counter()
        per = max(1, int(restarts or (RESTARTS_PER_DIGIT if self.num_classes else RESTARTS)))
        digits = np.repeat(np.arange(self.num_classes), per) if self.num_classes else np.zeros(per, np.int64)
        n = len(digits)
        targets = np.stack([np.asarray(t, np.float32).reshape(28, 28, 1) for t in targets01])
        z = np.concatenate([self.starts(t, n, seed) for t in targets])
        rows = np.tile(digits, len(targets))  # each row's digit
        steps = max(1, int(steps))
        first = min(steps, screen) if screen and 0 < keep < n else steps
        z, m, v, err, images = self._run(z, np.zeros_like(z), np.zeros_like(z), 0, first, rows, targets, n)
        if first < steps:
            kept = np.concatenate([k * n + np.argsort(err[k * n:(k + 1) * n], kind="stable")[:keep]
                                   for k in range(len(targets))])
            rows, n = rows[kept], keep
            z, m, v, err, images = self._run(z[kept], m[kept], v[kept], first, steps - first, rows, targets, n)
        seconds = time.perf_counter() - t0
        found = []
        for k in range(len(targets)):
            best = k * n + int(np.argmin(err[k * n:(k + 1) * n]))
            found.append(Projection(z[best].astype(np.float32), int(rows[best]) if self.num_classes else None,
                                    images[best], float(err[best]), seconds))
        return found

    def _run(self, z: np.ndarray, m: np.ndarray, v: np.ndarray, done: int, steps: int, rows: np.ndarray,
             targets: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        out = self._search(tf.constant(z), tf.constant(m), tf.constant(v), tf.constant(done), tf.constant(steps),
                           tf.constant(rows, tf.int32), tf.constant(np.repeat(targets, n, axis=0)))
        return tuple(t.numpy() for t in out)
