"""The generator the latent lab draws from, behind a small interface the page can use without
touching TensorFlow: images for latents, the first layer's kernel and activations, and the
directions computed from them (cached per weights version)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from gan_app import latent


@dataclass(frozen=True)
class GeneratorWeights:
    """A copy of the live generator's weights, taken by the trainer thread."""

    preset: str
    step: int
    version: int  # the trainer's weights_version when copied
    run_id: int  # versions restart at each Reset: together they name the weights
    weights: tuple[np.ndarray, ...]
    noise: str
    output_min: float
    output_max: float


class LabGenerator:
    def __init__(self, generator: Any, meta: dict[str, Any], name: str, version: str) -> None:
        self.generator, self.meta, self.name = generator, meta, name
        self.version = version  # part of every image cache key: new weights, new images
        self.latent_dim = int(meta["latent_dim"])
        self._render = tf.function(lambda z: generator(z, training=False), reduce_retracing=True)
        first = next(layer for layer in generator.layers if hasattr(layer, "kernel"))
        self._first_dense = first

    @classmethod
    def from_export(cls, export: Any) -> "LabGenerator":
        return cls(export.generator, export.meta, export.name, version=f"export:{export.name}:{id(export.generator)}")

    @classmethod
    def from_live(cls, w: GeneratorWeights) -> "LabGenerator":
        from gan_app.config import get_preset
        from gan_app.models import build_generator

        preset = get_preset(w.preset).replace(noise=w.noise)
        generator = build_generator(preset)
        generator.set_weights(list(w.weights))
        meta = {"latent_dim": preset.latent_dim, "noise": w.noise, "output_min": w.output_min,
                "output_max": w.output_max, "preset": w.preset, "steps": w.step}
        return cls(generator, meta, f"live run, step {w.step:,}", version=f"live:{w.run_id}:{w.version}")

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

    def images01(self, z: np.ndarray) -> np.ndarray:
        from gan_app.data import to_unit_range

        out = self._render(np.asarray(z, np.float32).reshape(-1, self.latent_dim))
        return to_unit_range(out, self.meta["output_min"], self.meta["output_max"])

    # ---- directions (computed once per weights version) ------------------------------------
    @functools.cached_property
    def sefa(self) -> tuple[np.ndarray, np.ndarray]:
        return latent.sefa_directions(np.asarray(self._first_dense.kernel))

    def first_layer_activations(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self._first_dense(np.asarray(z, np.float32)))

    @functools.cached_property
    def pca(self) -> tuple[np.ndarray, np.ndarray]:
        z = self.noise(2000, seed=1234)
        return latent.pca_directions(z, self.first_layer_activations(z), k=10)

    def class_directions(self, labeller: latent.Labeller, n: int = 2000) -> dict[int, np.ndarray]:
        key = id(labeller)
        cache = self.__dict__.setdefault("_class_dirs", {})
        if key not in cache:
            z = self.noise(n, seed=4321)
            cache[key] = latent.class_directions(z, labeller(self.images01(z)))
        return cache[key]


def reference_labeller() -> latent.Labeller:
    """The shipped digit classifier as a labeller (any callable images -> probabilities works)."""
    from gan_app.classifier import QualityMeter

    meter = QualityMeter()
    return lambda images01: meter.features_and_probs(images01)[1]
