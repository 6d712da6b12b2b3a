"""One training iteration in slow motion: the fused step's own pieces, run one sub-step at a time.

`SlowMotion.advance()` runs the next of SUB_STEPS on a FusedStep, eagerly, with the step's own
building blocks (the same random draws in the same order, the same tapes and optimizers), so
after the last sub-step G, D, their optimizers and G's moving average hold what one call of
`FusedStep.train(1)` from the same state would have produced. Each sub-step returns a `Frame`
of plain data (images as PNG data URLs, numbers, per-layer gradient norms) that every tab can
be shown. What the frames show of D's opinion comes from D in inference mode on the first
SHOWN images, which changes no weight, statistic or random state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from gan_app.data.datasets import to_unit_range
from gan_app.core.errors import UsageError
from gan_app.core.images import data_url, grid_png, png_bytes
from gan_app.train.step import FusedStep

SHOWN = 16  # images of each batch the frames show (4 x 4)

# (name, what it does, the tutorial that explains it)
SUB_STEPS: tuple[tuple[str, str, str], ...] = (
    ("Sample z", "Draw a batch of noise vectors z from the prior: one row per image G will draw.", "002"),
    ("G draws", "G turns each z into an image (training mode, recorded for G's update).", "003"),
    ("D judges real", "D scores a batch of real digits: the probability that each is real.", "002"),
    ("D judges fake", "D scores G's images, held fixed: D's update must not change G.", "002"),
    ("D's update", "D's loss on both batches gives a gradient for D's weights only; the optimizer applies it.", "000"),
    ("G's update", "G's loss through the *updated* D (in inference mode: no D weight moves) "
                   "gives a gradient for G's weights only.", "000"),
)


@dataclass(frozen=True)
class Frame:
    """What a sub-step shows: everything known of the iteration so far, as plain data."""

    index: int  # of SUB_STEPS, the one just done
    step: int  # the iteration's number in the run
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        name, says, tutorial = SUB_STEPS[self.index]
        return {"index": self.index, "count": len(SUB_STEPS), "name": name, "says": says, "tutorial": tutorial,
                "step": self.step, **self.data}


def _layer_norms(variables: list, grads: list) -> list[list[Any]]:
    """[[layer, |gradient|], ...] in the network's order: the L2 norm over each layer's variables."""
    norms: dict[str, float] = {}
    for var, grad in zip(variables, grads):
        if grad is None:
            continue
        layer = str(getattr(var, "path", var.name)).rsplit("/", 1)[0].rsplit("/", 1)[-1]
        norms[layer] = norms.get(layer, 0.0) + float(tf.reduce_sum(tf.square(tf.cast(grad, tf.float32))))
    return [[layer, round(float(np.sqrt(total)), 6)] for layer, total in norms.items()]


class SlowMotion:
    """One iteration of a FusedStep in SUB_STEPS; `done` after the last. `row` is then the
    iteration's metrics (a row of gan_app.core.config.METRICS), as `FusedStep.train(1)` returns it."""

    def __init__(self, step: Any, first_step: int = 0) -> None:
        if not isinstance(step, FusedStep):
            raise UsageError("slow motion shows the fused step: this run uses the tutorials' classic recipe")
        self.s = step
        self.first_step = first_step
        self.next_index = 0
        self.row: np.ndarray | None = None
        self._data: dict[str, Any] = {}
        self._g_tape: tf.GradientTape | None = None
        self._d_tape: tf.GradientTape | None = None

    @property
    def done(self) -> bool:
        return self.next_index >= len(SUB_STEPS)

    def advance(self) -> Frame:
        if self.done:
            raise UsageError("this iteration is complete: start the next one")
        index = self.next_index
        (self._sample_z, self._g_draws, self._d_real, self._d_fake, self._d_update, self._g_update)[index]()
        self.next_index += 1
        return Frame(index, self.first_step, dict(self._data))

    def finish(self) -> None:
        """Run whatever sub-steps are left (training goes on from a whole iteration)."""
        while not self.done:
            self.advance()

    # ---- the sub-steps, in the fused step's order ---------------------------------------
    def _sample_z(self) -> None:
        s = self.s
        for _ in range(int(s.k.numpy()) - 1):  # Algorithm 1's extra D steps, as the fused step takes them
            s._d_update(s._real_batch(), s._fake_batch())
        self._z, self._y = s._fake_inputs(s.batch_size)
        z = self._z.numpy()[:SHOWN]
        self._data["z"] = {"shown": len(z), "dim": int(z.shape[1]), "image": _z_image(z),
                           "mean": round(float(z.mean()), 3), "std": round(float(z.std()), 3)}
        if self._y is not None:
            told = [int(d) for d in self._y.numpy()[:SHOWN]]
            self._data["groups" if s.grouped else "digits"] = told

    def _g_draws(self) -> None:
        s = self.s
        self._g_tape = tf.GradientTape(watch_accessed_variables=False, persistent=True)
        with self._g_tape:
            s._watch_g(self._g_tape)
            self._fake = (s._g(s.generator, self._z, self._y, training=True), self._y)
        self._data["fake"] = self._images(self._fake[0])

    def _d_real(self) -> None:
        s = self.s
        self._real = s._real_batch()
        self._d_tape = tf.GradientTape()
        with self._d_tape:
            self._penalty, self._p_real = s._r1_penalty(self._real) if s.preset.r1 else (0.0, None)
        self._data["real"] = self._images(self._real[0])
        self._data["scores"] = {"real_before": self._scores(self._real)}
        if s.preset.r1:
            self._data["r1_penalty"] = round(float(self._penalty), 5)

    def _d_fake(self) -> None:
        s = self.s
        with self._d_tape:
            # As the fused step's D update: D's forward pass on the real batch comes first
            # (here, or inside the R1 penalty), then on G's images held fixed.
            self._d_results = s._d_losses(self._real, (tf.stop_gradient(self._fake[0]), self._fake[1]),
                                          p_real=self._p_real)
            self._d_loss = s.d_optimizer.scale_loss(self._d_results[0] + 0.5 * s.preset.r1 * self._penalty)
        self._data["scores"]["fake_before"] = self._scores(self._fake)
        d_loss, d_loss_real, d_loss_fake, d_real, d_fake = (float(v) for v in self._d_results)
        self._data["losses"] = {"d_loss": round(d_loss, 5), "d_loss_real": round(d_loss_real, 5),
                                "d_loss_fake": round(d_loss_fake, 5), "d_real": round(d_real, 5),
                                "d_fake": round(d_fake, 5)}

    def _d_update(self) -> None:
        s = self.s
        d_vars = s.discriminator.trainable_variables
        grads = self._d_tape.gradient(self._d_loss, d_vars)
        s.d_optimizer.apply_gradients(zip(grads, d_vars))
        self._d_tape = None
        self._data["grads"] = {"D": _layer_norms(d_vars, grads)}
        self._data["scores"]["real_after"] = self._scores(self._real)
        self._data["scores"]["fake_after"] = self._scores(self._fake)

    def _g_update(self) -> None:
        s = self.s
        with self._g_tape:
            g_loss = s._g_loss(self._fake)
            scaled = s.g_optimizer.scale_loss(g_loss)
        g_vars = s.generator.trainable_variables
        self._data["grads"]["G"] = _layer_norms(g_vars, self._g_tape.gradient(g_loss, g_vars))
        s._g_update(self._g_tape, scaled)  # the same gradient, applied, and G's moving average
        self._g_tape = None
        self._data["losses"]["g_loss"] = round(float(g_loss), 5)
        d_loss, d_loss_real, d_loss_fake, d_real, d_fake = (float(v) for v in self._d_results)
        self.row = np.array([[d_loss, d_loss_real, d_loss_fake, float(g_loss), d_real, d_fake]], np.float32)

    # ---- what a frame shows ---------------------------------------------------------------
    def _images(self, x: tf.Tensor) -> str:
        p = self.s.preset
        images01 = to_unit_range(np.asarray(x[:SHOWN]), p.output_min, p.output_max)
        return data_url(grid_png(images01, scale=2, side=4))

    def _scores(self, batch: tuple[tf.Tensor, tf.Tensor | None]) -> list[float]:
        x, y = batch
        shown = (x[:SHOWN], None if y is None else y[:SHOWN])
        return [round(float(v), 3) for v in np.asarray(self.s._d(shown, training=False))[:, 0]]


def _z_image(z: np.ndarray) -> str:
    """The shown rows of z as a heat strip (one row per image; dark: negative, light: positive)."""
    from PIL import Image

    levels = np.clip(z / 3.0 * 127.5 + 127.5, 0, 255).astype(np.uint8)
    img = Image.fromarray(levels).resize((z.shape[1] * 4, z.shape[0] * 6), Image.NEAREST)
    return data_url(png_bytes(img))


class RunSlowMotion:
    """The live trainer's slow motion over its run: starts an iteration at the first sub-step,
    books it in the run (metrics, step count) after the last, and keeps the latest frame."""

    def __init__(self) -> None:
        self._slow: SlowMotion | None = None
        self._seconds = 0.0
        self.frame: dict[str, Any] | None = None  # the latest sub-step's, as every tab is shown it

    def advance(self, run: Any) -> bool:
        """The next sub-step of the run's current slow iteration; True when that completed it."""
        if self._slow is None:
            self._slow, self._seconds = SlowMotion(run.step_obj, run.step), 0.0
        t0 = time.perf_counter()
        self.frame = self._slow.advance().to_json()
        self._seconds += time.perf_counter() - t0
        return self._book(run)

    def finish(self, run: Any) -> bool:
        """Complete an iteration left half way (before training goes on); True if there was one."""
        if self._slow is None:
            return False
        self._slow.finish()
        self.frame = None
        return self._book(run)

    def drop(self) -> None:
        """Forget it (the run was reset or replaced)."""
        self._slow, self.frame = None, None

    def _book(self, run: Any) -> bool:
        if self._slow is None or not self._slow.done:
            return False
        run.record(self._slow.row, seconds=self._seconds)
        self._slow = None
        return True
