"""G and D as the Learn page draws them: each layer's kind, settings, output shape and parameter
count, read from the Keras models themselves (the running run's, or the preset's freshly built
before a run exists), as plain data. Switching presets changes the picture because it is read
from the networks, never written by hand."""

from __future__ import annotations

from typing import Any

import keras

from gan_app.core.config import Preset
from gan_app.models.dcgan import build_discriminator, build_generator


def _shape(layer: keras.layers.Layer) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ""
    return "x".join(str(d) for d in shape[1:]) or "1"


def _detail(layer: keras.layers.Layer) -> str:
    """What distinguishes this layer from others of its kind, in a few characters."""
    cfg = layer.get_config()
    parts: list[str] = []
    if "filters" in cfg:
        k = cfg.get("kernel_size", ())
        parts.append(f"{cfg['filters']} filters {'x'.join(str(v) for v in k)}")
        if tuple(cfg.get("strides", (1, 1))) != (1, 1):
            parts.append(f"stride {cfg['strides'][0]}")
    elif "units" in cfg:
        parts.append(f"{cfg['units']} unit{'' if cfg['units'] == 1 else 's'}")
    elif "rate" in cfg:
        parts.append(f"rate {cfg['rate']:g}")
    elif layer.__class__.__name__ == "LatentGroup":
        parts.append(f"z[0] picks 1 of {cfg['groups']} groups")
    elif "input_dim" in cfg and "output_dim" in cfg:
        parts.append(f"{cfg['input_dim']} -> {cfg['output_dim']}")
    activation = cfg.get("activation")
    if isinstance(activation, str) and activation != "linear":
        parts.append(activation)
    if layer.__class__.__name__ == "LeakyReLU":
        parts.append(f"slope {cfg.get('negative_slope', cfg.get('alpha', 0.3)):g}")
    return ", ".join(parts)


def _input_name(tensor: Any, first: str) -> str:
    name = str(getattr(tensor, "name", ""))
    name = first if not name or name.startswith(("keras_tensor", "input")) else name
    return f"{name} {'x'.join(str(d) for d in tensor.shape[1:]) or '1'}"


def describe(model: keras.Model, first_input: str = "input") -> dict[str, Any]:
    """{'name', 'params', 'inputs': [...], 'layers': [{'name', 'kind', 'detail', 'shape', 'params'}]}.
    `first_input` names an input Keras left unnamed."""
    rows = [
        {"name": layer.name, "kind": layer.__class__.__name__, "detail": _detail(layer), "shape": _shape(layer),
         "params": int(layer.count_params())}
        for layer in model.layers
        if layer.__class__.__name__ != "InputLayer"
    ]
    inputs = [_input_name(t, first_input) for t in model.inputs]
    return {"name": model.name, "params": int(model.count_params()), "inputs": inputs, "layers": rows}


def group_means_picture(generator: keras.Model, output_min: float, output_max: float) -> str | None:
    """The mean images of the groups a grouped G was given, as a PNG data URL (10 a row); None
    for a G without groups or before a run found them."""
    import numpy as np

    from gan_app.data.datasets import to_unit_range
    from gan_app.core.images import data_url, grid_png
    from gan_app.models.dcgan import group_layer

    layer = group_layer(generator)
    if layer is None or not np.any(np.asarray(layer.means)):
        return None
    means = to_unit_range(np.asarray(layer.means).reshape(-1, 28, 28, 1), output_min, output_max)
    return data_url(grid_png(means, scale=2, columns=10))


def describe_pair(generator: keras.Model, discriminator: keras.Model, preset: Preset) -> dict[str, Any]:
    """The diagram of one GAN: its preset and both networks (and a grouped G's group means)."""
    return {"preset": preset.name, "latent_dim": preset.latent_dim, "batch_size": preset.batch_size,
            "conditional": bool(preset.num_classes), "groups": preset.groups,
            "group_means": group_means_picture(generator, preset.output_min, preset.output_max),
            "G": describe(generator, "z"), "D": describe(discriminator, "image")}


def preset_diagram(preset: Preset) -> dict[str, Any]:
    """The diagram of a preset's networks as a run would build them (before a run exists)."""
    return describe_pair(build_generator(preset), build_discriminator(preset), preset)
