"""A grouped generator written in Keras's own layers, so an export opens in plain Keras.

Training keeps G's group pick in one project layer (gan_app.models.dcgan.LatentGroup): its cut points
are variables the fused step changes between G and its moving average. A `.keras` file with that
layer opens only where gan_app is imported, and an export is a contract with notebooks and
converters that import nothing of this project. So an export's G spells the pick with built-in
layers, and the app turns it back into the training form when it opens the export:

    z -> Reshape((d, 1)) -> Cropping1D((0, d - 1)) -> Flatten        (z's first number)
      -> Discretization(bin_boundaries)                               (its group, 0..k-1)
      -> Embedding (G's learned group embedding) -> Flatten
      -> Concatenate with z -> the rest of G, same layers, same weights

Discretization counts the boundaries a value reaches (x >= b, numpy's digitize); LatentGroup
counts the cuts a value passes (z > cut). The boundaries are therefore the next float32 above
each cut: for every float32 z, z >= next_above(cut) exactly when z > cut, so both pick the same
group even for z on a cut. The groups' mean images (which tell D a real image's group) are no
part of G's computation; they travel in meta.json as `group_means`: {"dtype": "float32",
"shape": [k, 784], "base64": ...}, the little-endian bytes (exact, and one line instead of
39,200 numbers), read back with `np.frombuffer(base64.b64decode(m["base64"]), "<f4")`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import keras
import numpy as np
from keras import layers

from gan_app.models.dcgan import LatentGroup, group_layer

PICK = "latent_group"  # the Discretization layer's name in an export: the group z's first number picks


def _copy(layer: layers.Layer) -> layers.Layer:
    return layer.__class__.from_config(layer.get_config())


def _rest(generator: keras.Model) -> list[layers.Layer]:
    """G's layers after the group embedding is joined to z (a chain: the transposed-conv stack)."""
    joins = [i for i, layer in enumerate(generator.layers) if isinstance(layer, layers.Concatenate)]
    if len(joins) != 1:
        raise ValueError(f"{generator.name} is not a grouped generator (z, its group's embedding, one join)")
    return generator.layers[joins[0] + 1:]


def _join(generator: keras.Model, z: Any, embedded: Any) -> keras.Model:
    """z and its group's embedding, joined and run through copies of G's remaining layers, each
    given the source layer's weights."""
    h = layers.Concatenate(name="z_and_group")([z, embedded])
    pairs = [(layer, _copy(layer)) for layer in _rest(generator)]
    for _, copy in pairs:
        h = copy(h)
    model = keras.Model(z, h, name=generator.name)
    for layer, copy in pairs:
        copy.set_weights(layer.get_weights())
    return model


def portable_generator(generator: keras.Model) -> keras.Model:
    """`generator` in built-in Keras layers only (a copy with the same weights), for an export;
    a G that picks no group is returned as it is."""
    pick = group_layer(generator)
    if pick is None:
        return generator
    d = int(generator.input_shape[-1])
    cuts = np.asarray(pick.cuts, np.float32)
    bounds = np.nextafter(cuts, np.float32(np.inf))  # x >= bound exactly when x > cut (see above)
    z = keras.Input((d,), name="z")
    first = layers.Flatten(name="z0")(layers.Cropping1D((0, d - 1), name="z0_crop")(layers.Reshape((d, 1), name="z_column")(z)))
    group = layers.Discretization(bin_boundaries=[float(b) for b in bounds], name=PICK)(first)
    source = generator.get_layer("group_embedding")
    embedding = _copy(source)
    embedded = layers.Flatten(name="group_vector")(embedding(group))
    model = _join(generator, z, embedded)
    embedding.set_weights(source.get_weights())
    return model


def group_means(generator: keras.Model) -> dict[str, Any] | None:
    """The groups' mean images for meta.json (see above); None for a G that picks no group."""
    pick = group_layer(generator)
    if pick is None:
        return None
    means = np.asarray(pick.means, "<f4")
    return {"dtype": "float32", "shape": list(means.shape), "base64": base64.b64encode(means.tobytes()).decode()}


def read_group_means(value: Any, groups: int) -> np.ndarray:
    """meta.json's `group_means` as a float32 (groups, 784) array; ValueError saying what is wrong."""
    shape = [groups, 28 * 28]
    if not isinstance(value, dict) or value.get("dtype") != "float32" or value.get("shape") != shape:
        raise ValueError(f"group_means must be {{'dtype': 'float32', 'shape': {shape}, 'base64': ...}}: "
                         "one mean image per group")
    try:
        data = base64.b64decode(str(value.get("base64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("group_means' base64 is damaged") from None
    if len(data) != 4 * groups * 28 * 28:
        raise ValueError(f"group_means holds {len(data)} bytes, not the {4 * groups * 784} of {groups} mean images")
    return np.frombuffer(data, "<f4").reshape(shape).astype(np.float32)


def is_portable_grouped(generator: keras.Model) -> bool:
    return any(isinstance(layer, layers.Discretization) and layer.name == PICK for layer in generator.layers)


def training_generator(generator: keras.Model, means: Any) -> keras.Model:
    """An export's portable G back in the training form (LatentGroup with its cuts and the means
    from meta.json's `group_means`), same weights: what the lab, the browser and D's group
    judgement read. ValueError when `means` is not the groups' mean images."""
    pick = generator.get_layer(PICK)
    bounds = np.asarray(pick.bin_boundaries, np.float32)
    k = len(bounds) + 1
    means = read_group_means(means, k)
    d = int(generator.input_shape[-1])
    z = keras.Input((d,), name="z")
    latent = LatentGroup(k, name=PICK)
    group = latent(z)
    source = generator.get_layer("group_embedding")
    embedding = _copy(source)
    model = _join(generator, z, embedding(group))
    embedding.set_weights(source.get_weights())
    latent.cuts.assign(np.nextafter(bounds, np.float32(-np.inf)))
    latent.means.assign(means)
    return model
