"""The generator the latent lab draws from, behind a small interface the page can use without
touching TensorFlow: images for latents (and digits, for a conditional generator), the first
layer's kernel and activations, the directions computed from them (cached per weights version),
blends between two digits' conditioning, and D's verdict where a discriminator came with it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gan_app.core import latent


@dataclass(frozen=True)
class GeneratorWeights:
    """A copy of the live generator's weights (and D's, of the same step), taken by the trainer thread."""

    preset: str
    step: int
    version: int  # the trainer's weights_version when copied
    run_id: int  # versions restart at each Reset: together they name the weights
    weights: tuple[np.ndarray, ...]
    noise: str
    output_min: float
    output_max: float
    discriminator: tuple[np.ndarray, ...] | None = None


Digits = int | np.ndarray | None  # one digit for every latent, one per latent, or None (unconditional)


class LabGenerator:
    def __init__(self, generator: Any, meta: dict[str, Any], name: str, version: str, discriminator: Any = None) -> None:
        self.generator, self.meta, self.name = generator, meta, name
        self.discriminator = discriminator
        self.version = version  # part of every image cache key: new weights, new images
        self.latent_dim = int(meta["latent_dim"])
        self.num_classes = int(meta.get("num_classes") or 0)
        if self.num_classes:
            self._render = tf.function(lambda z, y: generator([z, y], training=False), reduce_retracing=True)
        else:
            self._render = tf.function(lambda z, y: generator(z, training=False), reduce_retracing=True)
        self._first_dense = next(layer for layer in generator.layers if hasattr(layer, "kernel"))

    @classmethod
    def from_export(cls, export: Any) -> "LabGenerator":
        return cls(export.generator, export.meta, export.name, version=f"export:{export.name}:{id(export.generator)}",
                   discriminator=export.discriminator)

    @classmethod
    def from_live(cls, w: GeneratorWeights) -> "LabGenerator":
        from gan_app.core.config import get_preset
        from gan_app.models.dcgan import build_discriminator, build_generator

        preset = get_preset(w.preset).replace(noise=w.noise)
        generator = build_generator(preset)
        generator.set_weights(list(w.weights))
        discriminator = None
        if w.discriminator is not None:
            discriminator = build_discriminator(preset)
            discriminator.set_weights(list(w.discriminator))
        meta = {"latent_dim": preset.latent_dim, "noise": w.noise, "output_min": w.output_min,
                "output_max": w.output_max, "preset": w.preset, "steps": w.step, "num_classes": preset.num_classes,
                "groups": preset.groups}
        return cls(generator, meta, f"live run, step {w.step:,}", version=f"live:{w.run_id}:{w.version}",
                   discriminator=discriminator)

    # ---- sampling -----------------------------------------------------------------------
    @property
    def uniform(self) -> bool:
        return self.meta["noise"] == "uniform"

    @property
    def sigma(self) -> float:
        """Standard deviation of one latent coordinate under the prior."""
        return 1.0 / np.sqrt(3.0) if self.uniform else 1.0

    @property
    def slider_range(self) -> tuple[float, float]:
        return (-1.0, 1.0) if self.uniform else (-3.0, 3.0)

    def noise(self, n: int, seed: int) -> np.ndarray:
        return latent.sample_prior(np.random.default_rng(seed), n, self.latent_dim, self.meta["noise"])

    def digits(self, n: int, digits: Digits) -> np.ndarray:
        """int32 (n,): the digit of each of n images (0 for an unconditional generator, which ignores it)."""
        if not self.num_classes or digits is None:
            return np.zeros(n, np.int32)
        d = np.asarray(digits, np.int32)
        return np.full(n, int(d), np.int32) if d.ndim == 0 else d.reshape(n)

    def images01(self, z: np.ndarray, digits: Digits = None) -> np.ndarray:
        from gan_app.data.datasets import to_unit_range

        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        out = self._render(z, self.digits(len(z), digits))
        return to_unit_range(out, self.meta["output_min"], self.meta["output_max"])

    # ---- what D thinks -------------------------------------------------------------------
    def judge01(self, images01: np.ndarray, digits: Digits = None) -> np.ndarray | None:
        """D's probability that each image in [0, 1] is real (as the digit asked for), (N,); None
        when no discriminator came with this generator."""
        from gan_app.data.datasets import scale_to_range
        from gan_app.train.step import judge

        if self.discriminator is None:
            return None
        x = scale_to_range(np.asarray(images01, np.float32).reshape(-1, 28, 28, 1),
                           self.meta["output_min"], self.meta["output_max"])
        told = self.digits(len(x), digits) if self.num_classes else None  # a grouped D: each image's nearest group
        return judge(self.discriminator, x, told, self.generator)

    # ---- two digits at one z ---------------------------------------------------------------
    @functools.cached_property
    def _from_embedding(self) -> tuple[keras.Model, np.ndarray] | None:
        """(G from [z, digit embedding], the embedding table) where G reads a learned embedding of
        the digit concatenated to z (this project's conditional preset); None otherwise."""
        layers = self.generator.layers
        if not self.num_classes or "label_embedding" not in {layer.name for layer in layers}:
            return None
        table = np.asarray(self.generator.get_layer("label_embedding").embeddings)
        concat = next((i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Concatenate)), None)
        if concat is None:
            return None
        z_in, e_in = keras.Input((self.latent_dim,)), keras.Input((table.shape[1],))
        h = layers[concat]([z_in, e_in])
        for layer in layers[concat + 1:]:
            h = layer(h)
        return keras.Model([z_in, e_in], h), table

    @property
    def can_blend_digits(self) -> bool:
        return self._from_embedding is not None

    def blend_digits(self, z: np.ndarray, a: int, b: int, steps: int) -> np.ndarray:
        """Images at one z whose digit conditioning moves from a's embedding to b's, (steps, 28, 28, 1)."""
        return self.blend_path(np.repeat(np.asarray(z, np.float32).reshape(1, -1), steps, axis=0), a, b)

    def blend_path(self, zs: np.ndarray, a: int, b: int) -> np.ndarray:
        """Images along a path of latents whose digit conditioning moves from a's embedding to b's
        in step with it (from one student's 3 to another's 8), (len(zs), 28, 28, 1)."""
        from gan_app.data.datasets import to_unit_range

        model, table = self._from_embedding
        zs = np.asarray(zs, np.float32).reshape(-1, self.latent_dim)
        ts = np.linspace(0.0, 1.0, len(zs))[:, None]
        e = ((1 - ts) * table[a] + ts * table[b]).astype(np.float32)
        out = model([tf.constant(zs), tf.constant(e)], training=False)
        return to_unit_range(np.asarray(out), self.meta["output_min"], self.meta["output_max"])

    # ---- directions (computed once per weights version) ------------------------------------
    @functools.cached_property
    def sefa(self) -> tuple[np.ndarray, np.ndarray]:
        # A conditional G's first layer reads [z, digit embedding]: the rows of z come first.
        return latent.sefa_directions(np.asarray(self._first_dense.kernel)[: self.latent_dim])

    @functools.cached_property
    def _first_layer(self) -> keras.Model:
        inputs = self.generator.inputs
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], self._first_dense.output)

    def first_layer_activations(self, z: np.ndarray, digits: Digits = None) -> np.ndarray:
        z = np.asarray(z, np.float32)
        x = [z, self.digits(len(z), digits)] if self.num_classes else z
        return np.asarray(self._first_layer(x, training=False))

    @functools.cached_property
    def pca(self) -> tuple[np.ndarray, np.ndarray]:
        z = self.noise(2000, seed=1234)
        digits = np.arange(len(z)) % self.num_classes if self.num_classes else None
        kernel = np.asarray(self._first_dense.kernel)
        if kernel.shape[0] == self.latent_dim:  # the first layer reads z alone: its output is linear in z
            return latent.pca_directions_linear(z, z, kernel, k=10)
        if self._from_embedding is not None and kernel.shape[0] == self.latent_dim + self._from_embedding[1].shape[1]:
            inputs = np.concatenate([z, self._from_embedding[1][digits]], axis=1)  # [z, the digit's embedding]
            return latent.pca_directions_linear(z, inputs, kernel, k=10)
        return latent.pca_directions(z, self.first_layer_activations(z, digits), k=10)

    def class_directions(self, labeller: latent.Labeller, n: int = 2000) -> dict[int, np.ndarray]:
        key = id(labeller)
        cache = self.__dict__.setdefault("_class_dirs", {})
        if key not in cache:
            z = self.noise(n, seed=4321)
            cache[key] = latent.class_directions(z, labeller(self.images01(z)))
        return cache[key]


def reference_labeller() -> latent.Labeller:
    """The shipped digit classifier as a labeller (any callable images -> probabilities works)."""
    from gan_app.models.classifier import shared_meter

    meter = shared_meter()  # the live run's own when it measures quality: loaded once per process
    return lambda images01: meter.features_and_probs(images01)[1]
