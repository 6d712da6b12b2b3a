"""A Keras generator (and discriminator) described for the browser: a small graph of layers with
their settings, and every weight in one binary blob, so each student's tab can rebuild the same
network in TensorFlow.js and draw the lab's images itself (gan_app/ui/lab/web/net.js reads this).

The description is read from the Keras model itself (its layers in order, each with the layers
it reads from), not from the preset, so an opened export is described the same way as the live
run. A layer the browser cannot build raises UnsupportedInBrowser; the lab then draws on the
server, slower, and says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Keras layer -> the browser's op, and the settings it needs (read from the layer's config).
_SETTINGS = {
    "Dense": ("dense", ("units", "activation", "use_bias")),
    "BatchNormalization": ("batch_norm", ("axis", "epsilon", "center", "scale")),
    "LeakyReLU": ("leaky_relu", ("negative_slope",)),
    "ReLU": ("relu", ("max_value", "negative_slope", "threshold")),
    "Activation": ("activation", ("activation",)),
    "Reshape": ("reshape", ("target_shape",)),
    "UpSampling2D": ("upsample", ("size", "interpolation", "data_format")),
    "Conv2D": ("conv2d", ("filters", "kernel_size", "strides", "padding", "activation", "use_bias",
                          "data_format", "dilation_rate", "groups")),
    "Conv2DTranspose": ("conv2d_transpose", ("filters", "kernel_size", "strides", "padding", "activation",
                                             "use_bias", "data_format", "dilation_rate", "output_padding")),
    "Dropout": ("identity", ()),
    "Flatten": ("flatten", ()),
    "Embedding": ("embedding", ("input_dim", "output_dim")),
    "Concatenate": ("concatenate", ("axis",)),
    "LatentGroup": ("latent_group", ("groups",)),  # gan_app.models.dcgan: the group z's first number picks
}
ACTIVATIONS = {"linear", "relu", "tanh", "sigmoid"}
WEIGHT_DTYPES = ("float16", "float32")


class UnsupportedInBrowser(ValueError):
    """The model has a layer (or a setting) the browser's runtime does not rebuild."""


@dataclass
class BrowserBundle:
    """One model version for the browser: `manifest` (JSON-able: both graphs, the weight specs,
    the directions) and `blob` (all weights, in the order of manifest["weights"])."""

    manifest: dict[str, Any]
    blob: bytes
    key: str = field(init=False)

    def __post_init__(self) -> None:
        text = json.dumps(self.manifest, sort_keys=True, separators=(",", ":")).encode()
        self.key = hashlib.sha256(text + self.blob).hexdigest()[:20]  # content-addressed: immutable URLs
        self.manifest["key"] = self.key


def _check(op: str, name: str, settings: dict[str, Any]) -> None:
    activation = settings.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise UnsupportedInBrowser(f"layer {name}: activation {activation!r}")
    if settings.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedInBrowser(f"layer {name}: channels_first")
    convolution = op in ("conv2d", "conv2d_transpose")
    if convolution and (tuple(settings.get("dilation_rate") or (1, 1)) != (1, 1) or settings.get("groups", 1) != 1):
        raise UnsupportedInBrowser(f"layer {name}: dilated or grouped convolution")
    if op == "conv2d_transpose" and settings.get("output_padding") is not None:
        raise UnsupportedInBrowser(f"layer {name}: output_padding")
    if op == "upsample" and settings.get("interpolation") != "nearest":
        raise UnsupportedInBrowser(f"layer {name}: {settings.get('interpolation')} upsampling")
    if op == "batch_norm" and settings.get("axis") not in (-1, [-1], 3, [3], 1, [1]):
        raise UnsupportedInBrowser(f"layer {name}: batch norm over axis {settings.get('axis')}")
    if op == "relu" and (settings.get("max_value") is not None or settings.get("threshold")):
        raise UnsupportedInBrowser(f"layer {name}: clipped or thresholded ReLU")
    if op == "concatenate" and settings.get("axis") not in (-1,):
        raise UnsupportedInBrowser(f"layer {name}: concatenation over axis {settings.get('axis')}")


def _history(arg: Any) -> list[str]:
    """The names of the layers a Keras 3 functional config's node argument reads from."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return [arg["config"]["keras_history"][0]]
    if isinstance(arg, (list, tuple)):
        return [name for item in arg for name in _history(item)]
    return []


def _tensor_list(entries: list[Any]) -> list[list[Any]]:
    """A functional config's input or output layers, [name, node, tensor] each: Keras writes a
    single one without the outer list."""
    return [entries] if entries and isinstance(entries[0], str) else list(entries)


def _graph(model: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, list[str]]], str]:
    """(inputs, [(layer, the names it reads)] in running order, output layer name)."""
    config = model.get_config()
    if "input_layers" not in config:  # Sequential: one input, a chain
        shape = list(model.inputs[0].shape[1:])
        inputs = [{"name": "input", "shape": shape, "dtype": "float32"}]
        chain, previous = [], "input"
        for layer in model.layers:
            chain.append((layer, [previous]))
            previous = layer.name
        return inputs, chain, previous
    entries = {entry["name"]: entry for entry in config["layers"]}
    inputs = [{"name": name, "shape": list(entries[name]["config"]["batch_shape"][1:]),
               "dtype": entries[name]["config"]["dtype"]} for name, *_ in _tensor_list(config["input_layers"])]
    order = []
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        nodes = entry["inbound_nodes"]
        if len(nodes) != 1:
            raise UnsupportedInBrowser(f"layer {entry['name']} is used {len(nodes)} times")
        order.append((model.get_layer(entry["name"]), _history(nodes[0]["args"])))
    outputs = _tensor_list(config["output_layers"])
    if len(outputs) != 1:
        raise UnsupportedInBrowser("the model has several outputs")
    return inputs, order, outputs[0][0]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def describe(model: Any, weights: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The graph of `model` for the browser; its weights are appended to `weights` as
    (name, array), and each node names the indices of its own."""
    inputs, order, output = _graph(model)
    nodes = []
    for layer, reads in order:
        kind = type(layer).__name__
        if kind not in _SETTINGS:
            raise UnsupportedInBrowser(f"layer {layer.name} ({kind})")
        op, keys = _SETTINGS[kind]
        config = layer.get_config()
        settings = {key: _jsonable(config.get(key)) for key in keys}
        _check(op, layer.name, settings)
        named = {}
        for variable in layer.weights:
            short = variable.path.rsplit("/", 1)[-1]
            named[short] = len(weights)
            weights.append((f"{model.name}/{layer.name}/{short}", np.asarray(variable.numpy(), np.float32)))
        nodes.append({"name": layer.name, "op": op, "reads": reads, "weights": named, **settings})
    return {"inputs": inputs, "nodes": nodes, "output": output}


SMALL = 16_384  # arrays up to this size travel as float32 whatever `dtype` says: BatchNorm
# statistics and biases are few numbers, and float16 there costs more accuracy than bytes.


def pack(weights: list[tuple[str, np.ndarray]], dtype: str = "float16") -> tuple[list[dict[str, Any]], bytes]:
    """One little-endian blob of all weights and TensorFlow.js weight specs for it
    (tf.io.decodeWeights reads float16 as a 'float16' quantization of float32). Kernels
    travel as `dtype`, small arrays as float32."""
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weights travel as {' or '.join(WEIGHT_DTYPES)}, not {dtype}")
    specs, parts = [], []
    for name, array in weights:
        spec: dict[str, Any] = {"name": name, "shape": list(array.shape), "dtype": "float32"}
        if dtype == "float16" and array.size > SMALL:
            spec["quantization"] = {"dtype": "float16"}
            parts.append(np.ascontiguousarray(array, "<f2").tobytes())
        else:
            parts.append(np.ascontiguousarray(array, "<f4").tobytes())
        specs.append(spec)
    return specs, b"".join(parts)


def _embedded(node: dict[str, Any], by_name: dict[str, Any], weights: list[np.ndarray], z: np.ndarray,
              digits: np.ndarray | None) -> np.ndarray | None:
    """The ids an embedding node looks up for latents z: the groups z picks where it reads G's
    group layer, else the digits (None when none are given)."""
    source = by_name.get(node["reads"][0])
    if source is not None and source["op"] == "latent_group":
        from gan_app.data.groups import groups_of_z

        return groups_of_z(z, weights[source["weights"]["cuts"]])
    return digits


def first_dense_inputs(spec: dict[str, Any], weights: list[np.ndarray], z: np.ndarray,
                       digits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(the first Dense layer's inputs for latents z (and digits), its kernel), in numpy: its
    output, what PCA reads, is inputs @ kernel + bias. None when the first Dense does not read
    z (or [z, a digit's or z's group's embedding]) directly."""
    by_name = {node["name"]: node for node in spec["nodes"]}
    dense = next((node for node in spec["nodes"] if node["op"] == "dense"), None)
    if dense is None:
        return None
    source = by_name.get(dense["reads"][0])
    if source is None:  # reads the input itself
        x = z
    elif source["op"] == "concatenate":
        parts = []
        for name in source["reads"]:
            node = by_name.get(name)
            ids = _embedded(node, by_name, weights, z, digits) if node is not None and node["op"] == "embedding" else None
            if node is None:
                parts.append(z)
            elif ids is not None:
                parts.append(weights[node["weights"]["embeddings"]][ids])
            else:
                return None
        x = np.concatenate(parts, axis=1)
    else:
        return None
    return x, weights[dense["weights"]["kernel"]]
