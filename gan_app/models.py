"""The generator and discriminator of each preset, layer for layer as its tutorial writes them.

Parameter counts match the tutorials' printed summaries (asserted in tests/test_models.py).
Models are plain Keras networks (Sequential, or functional for the conditional preset, whose G
and D take [input, digit]); how they are trained lives in gan_app.step.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from gan_app.config import Preset

IMAGE_SHAPE = (28, 28, 1)
Builder = Callable[[int], keras.Model]


def _taehojo_generator(latent_dim: int) -> keras.Model:
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


def _taehojo_discriminator(_: int) -> keras.Model:
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


def _seed002_generator(latent_dim: int) -> keras.Model:
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


def _seed002_discriminator(_: int) -> keras.Model:
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


def _roatienza_generator(latent_dim: int) -> keras.Model:
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


def _roatienza_discriminator(_: int) -> keras.Model:
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


def _fast_generator(latent_dim: int) -> keras.Model:
    return _transposed_generator(latent_dim, 64)  # sized for a 2-core CPU


def _wide_generator(latent_dim: int) -> keras.Model:
    return _transposed_generator(latent_dim, 128)  # twice as wide: about 4x the convolution work


def _fast_discriminator(_: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(32, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(64, 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )


LABEL_EMBEDDING = 16  # size of the digit's embedding G reads beside z


def _conditional_generator(latent_dim: int) -> keras.Model:
    """`fast`'s G reading [z, digit]: the digit's learned embedding is concatenated to z."""
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    h = layers.Concatenate()([z, layers.Embedding(10, LABEL_EMBEDDING, name="label_embedding")(label)])
    for layer in _transposed_layers(64):
        h = layer(h)
    return keras.Model([z, label], h, name="generator")


def _conditional_discriminator(_: int) -> keras.Model:
    """`fast`'s D reading [image, digit]: the digit's learned 28x28 map is a second input channel."""
    image = keras.Input(IMAGE_SHAPE, name="image")
    label = keras.Input((), dtype="int32", name="label")
    plane = layers.Reshape(IMAGE_SHAPE)(layers.Embedding(10, 28 * 28, name="label_plane")(label))
    h = layers.Concatenate()([image, plane])
    for layer in (layers.Conv2D(32, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
                  layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2), layers.Flatten(),
                  layers.Dense(1, activation="sigmoid")):
        h = layer(h)
    return keras.Model([image, label], h, name="discriminator")


ARCHITECTURES: dict[str, tuple[Builder, Builder]] = {
    "taehojo": (_taehojo_generator, _taehojo_discriminator),
    "seed002": (_seed002_generator, _seed002_discriminator),
    "roatienza": (_roatienza_generator, _roatienza_discriminator),
    "fast": (_fast_generator, _fast_discriminator),
    "wide": (_wide_generator, _fast_discriminator),
    "conditional": (_conditional_generator, _conditional_discriminator),
}


def build_generator(preset: Preset) -> keras.Model:
    return ARCHITECTURES[preset.architecture][0](preset.latent_dim)


def build_discriminator(preset: Preset) -> keras.Model:
    return ARCHITECTURES[preset.architecture][1](preset.latent_dim)


def param_counts(preset: Preset) -> tuple[int, int]:
    """(generator, discriminator) parameter counts, trainable and not, as model.summary() totals them."""
    return build_generator(preset).count_params(), build_discriminator(preset).count_params()
