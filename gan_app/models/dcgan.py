"""The generator and discriminator of each preset, layer for layer as its tutorial writes them.

Parameter counts match the tutorials' printed summaries (asserted in tests/test_models.py).
Models are plain Keras networks: Sequential, or functional where G or D reads a digit or a group
(the conditional preset's G and D take [input, digit]; `fast`'s G picks a group of the training
images from z itself, and its D takes [image, group]). How they are trained lives in gan_app.train.step.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras import layers, ops

from gan_app.core.config import Preset
from gan_app.data.groups import cut_points, fit_groups, nearest_group

IMAGE_SHAPE = (28, 28, 1)
Builder = Callable[[Preset], keras.Model]
LABEL_EMBEDDING = 16  # size of the digit's (or group's) embedding G reads beside z


def _taehojo_generator(preset: Preset) -> keras.Model:
    latent_dim = preset.latent_dim
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(128 * 7 * 7, activation="relu"),
            layers.Reshape((7, 7, 128)),
            layers.UpSampling2D(),
            layers.Conv2D(128, kernel_size=3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.UpSampling2D(),
            layers.Conv2D(64, kernel_size=3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(1, kernel_size=3, padding="same", activation="tanh"),
        ],
        name="generator",
    )


def _taehojo_discriminator(_: Preset) -> keras.Model:
    stack: list[layers.Layer] = [
        keras.Input(IMAGE_SHAPE),
        layers.Conv2D(32, kernel_size=3, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Dropout(0.25),
    ]
    for filters in (64, 128, 256):
        stack += [
            layers.Conv2D(filters, kernel_size=3, strides=2, padding="same"),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.25),
        ]
    stack += [layers.Flatten(), layers.Dense(1, activation="sigmoid")]
    return keras.Sequential(stack, name="discriminator")


def _seed002_generator(preset: Preset) -> keras.Model:
    latent_dim = preset.latent_dim
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(128 * 7 * 7),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.Reshape((7, 7, 128)),
            layers.UpSampling2D(),
            layers.Conv2D(64, kernel_size=5, padding="same"),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.2),
            layers.UpSampling2D(),
            layers.Conv2D(1, kernel_size=5, padding="same", activation="tanh"),
        ],
        name="generator",
    )


def _seed002_discriminator(_: Preset) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(64, kernel_size=5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Conv2D(128, kernel_size=5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )


def _roatienza_generator(preset: Preset) -> keras.Model:
    latent_dim = preset.latent_dim
    depth, dim, dropout = 64 + 64 + 64 + 64, 7, 0.4
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(dim * dim * depth),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu"),
            layers.Reshape((dim, dim, depth)),
            layers.Dropout(dropout),
            layers.UpSampling2D(),
            layers.Conv2DTranspose(depth // 2, 5, padding="same"),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu"),
            layers.UpSampling2D(),
            layers.Conv2DTranspose(depth // 4, 5, padding="same"),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu"),
            layers.Conv2DTranspose(depth // 8, 5, padding="same"),
            layers.BatchNormalization(momentum=0.9),
            layers.Activation("relu"),
            layers.Conv2DTranspose(1, 5, padding="same"),
            layers.Activation("sigmoid"),
        ],
        name="generator",
    )


def _roatienza_discriminator(_: Preset) -> keras.Model:
    depth, dropout = 64, 0.4
    stack: list[layers.Layer] = [keras.Input(IMAGE_SHAPE)]
    for multiple, strides in ((1, 2), (2, 2), (4, 2), (8, 1)):
        stack += [
            layers.Conv2D(depth * multiple, 5, strides=strides, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(dropout),
        ]
    stack += [layers.Flatten(), layers.Dense(1), layers.Activation("sigmoid")]
    return keras.Sequential(stack, name="discriminator")


def _transposed_layers(width: int) -> list[layers.Layer]:
    # DCGAN paper recipe (transposed convolutions, BN + ReLU, tanh): `width` channels at 7x7,
    # halving at 14x14 and 28x28. The last 3x3 convolution works at 28x28, where strokes get
    # their edges. At width 64, G 1e-3 and D 2.5e-4, 20,000 steps reached classifier FID 23
    # instead of 42 without it, for about a third fewer steps per second.
    return [
        layers.Dense(7 * 7 * width, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Reshape((7, 7, width)),
        layers.Conv2DTranspose(width // 2, 4, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2DTranspose(width // 4, 4, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(1, 3, padding="same", activation="tanh"),
    ]


def _transposed_generator(latent_dim: int, width: int) -> keras.Model:
    return keras.Sequential([keras.Input((latent_dim,)), *_transposed_layers(width)], name="generator")


@keras.saving.register_keras_serializable(package="gan_app")
class LatentGroup(layers.Layer):
    """G's pick of a group of the training images: z's first coordinate, cut at `cuts` (k - 1
    rising values), names group 0 to k - 1. It also keeps the groups' mean images (`means`,
    k x 784, in G's output range), by which a real image's group is found. Both are set from
    the data when a run starts (gan_app.data.groups) and saved with G; neither is trained."""

    def __init__(self, groups: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.cuts = self.add_weight(shape=(self.groups - 1,), initializer="zeros", trainable=False, name="cuts")
        self.means = self.add_weight(shape=(self.groups, 28 * 28), initializer="zeros", trainable=False,
                                     name="means")

    def call(self, z: object) -> object:
        return ops.sum(ops.cast(ops.greater(z[:, :1], self.cuts[None, :]), "int32"), axis=1)

    def compute_output_spec(self, z: object) -> object:
        return keras.KerasTensor((z.shape[0],), dtype="int32")

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


def _grouped_generator(latent_dim: int, groups: int, width: int) -> keras.Model:
    """The transposed-conv G reading z only: z picks a group (LatentGroup), whose learned
    embedding is concatenated to z."""
    z = keras.Input((latent_dim,), name="z")
    group = LatentGroup(groups, name="latent_group")(z)
    h = layers.Concatenate()([z, layers.Embedding(groups, LABEL_EMBEDDING, name="group_embedding")(group)])
    for layer in _transposed_layers(width):
        h = layer(h)
    return keras.Model(z, h, name="generator")


def _fast_generator(preset: Preset) -> keras.Model:
    if preset.groups:
        return _grouped_generator(preset.latent_dim, preset.groups, 64)
    return _transposed_generator(preset.latent_dim, 64)  # sized for a 2-core CPU


def _wide_generator(preset: Preset) -> keras.Model:
    return _transposed_generator(preset.latent_dim, 128)  # twice as wide: about 4x the convolution work


def _fast_d_layers() -> list[layers.Layer]:
    return [
        layers.Conv2D(32, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Conv2D(64, 4, strides=2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid"),
    ]


def _told_discriminator(classes: int, what: str) -> keras.Model:
    """`fast`'s D reading [image, digit or group]: that class's learned 28x28 map is a second
    input channel."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    told = keras.Input((), dtype="int32", name=what)
    plane = layers.Reshape(IMAGE_SHAPE)(layers.Embedding(classes, 28 * 28, name=f"{what}_plane")(told))
    h = layers.Concatenate()([image, plane])
    for layer in _fast_d_layers():
        h = layer(h)
    return keras.Model([image, told], h, name="discriminator")


def _fast_discriminator(preset: Preset) -> keras.Model:
    if preset.groups:
        return _told_discriminator(preset.groups, "group")
    return keras.Sequential([keras.Input(IMAGE_SHAPE), *_fast_d_layers()], name="discriminator")



def _conditional_generator(preset: Preset) -> keras.Model:
    """`fast`'s G reading [z, digit]: the digit's learned embedding is concatenated to z."""
    z = keras.Input((preset.latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    h = layers.Concatenate()([z, layers.Embedding(10, LABEL_EMBEDDING, name="label_embedding")(label)])
    for layer in _transposed_layers(64):
        h = layer(h)
    return keras.Model([z, label], h, name="generator")


def _conditional_discriminator(_: Preset) -> keras.Model:
    return _told_discriminator(10, "label")


ARCHITECTURES: dict[str, tuple[Builder, Builder]] = {
    "taehojo": (_taehojo_generator, _taehojo_discriminator),
    "seed002": (_seed002_generator, _seed002_discriminator),
    "roatienza": (_roatienza_generator, _roatienza_discriminator),
    "fast": (_fast_generator, _fast_discriminator),
    "wide": (_wide_generator, _fast_discriminator),
    "conditional": (_conditional_generator, _conditional_discriminator),
}


def build_generator(preset: Preset) -> keras.Model:
    return ARCHITECTURES[preset.architecture][0](preset)


def build_discriminator(preset: Preset) -> keras.Model:
    return ARCHITECTURES[preset.architecture][1](preset)


def param_counts(preset: Preset) -> tuple[int, int]:
    """(generator, discriminator) parameter counts, trainable and not, as model.summary() totals them."""
    return build_generator(preset).count_params(), build_discriminator(preset).count_params()


def group_layer(generator: keras.Model) -> LatentGroup | None:
    """G's group layer, or None for a G that picks no group."""
    return next((layer for layer in generator.layers if isinstance(layer, LatentGroup)), None)


def set_groups(generator: keras.Model, means: np.ndarray, cuts: np.ndarray) -> None:
    """Give G's group layer the groups found in the data (gan_app.data.groups)."""
    layer = group_layer(generator)
    if layer is None:
        raise ValueError("this generator picks no group")
    layer.cuts.assign(np.asarray(cuts, np.float32))
    layer.means.assign(np.asarray(means, np.float32).reshape(layer.groups, -1))


def fit_generator_groups(generator: keras.Model, images: np.ndarray, preset: Preset, seed: int) -> np.ndarray:
    """Find the preset's groups in `images` (in G's output range), give them to G's group layer,
    and return each image's group."""
    means, shares = fit_groups(images, preset.groups, seed)
    set_groups(generator, means, cut_points(shares, preset.noise))
    return nearest_group(images, means)


def image_groups(generator: keras.Model, images: np.ndarray) -> np.ndarray | None:
    """The group of each image (in G's output range) by its nearest group mean; None for a G
    that picks no group."""
    layer = group_layer(generator)
    return None if layer is None else nearest_group(images, np.asarray(layer.means))


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """`model` computing in `precision`, a Keras dtype policy (gan_app.core.config.PRECISIONS): a copy
    with its weights whose layers compute in 16 bits and keep float32 weights, except the last
    (its output feeds the losses) and G's group pick (cut points need float32). The model itself
    when it already computes so (float32: a copy of a mixed model computes in float32 again)."""
    last = model.layers[-1].name

    def policy(layer: layers.Layer) -> str:
        return "float32" if layer.name == last or isinstance(layer, LatentGroup) else precision

    own = [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]
    if all(layer.dtype_policy.name == policy(layer) for layer in own):
        return model

    def clone(layer: layers.Layer) -> layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy(layer)})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
