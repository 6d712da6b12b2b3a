"""Exports are a contract: generator.keras and discriminator.keras open in plain Keras (safe_mode,
nothing of this project imported) and compute what the app computes; the app reopens them, and
the exports written before (with the project's group layer) and the shipped ones, as it did."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gan_app.runs.checkpoint import (SHIPPED_CONDITIONAL, SHIPPED_EXPORT, CheckpointError, load_export, open_export,
                                write_export)
from gan_app.core.config import PRESETS, get_preset
from gan_app.core.files import save_model_atomic
from gan_app.data.groups import groups_of_z
from gan_app.models.dcgan import build_discriminator, build_generator, fit_generator_groups, group_layer

# Run in a fresh interpreter: keras and numpy only, then prove nothing of gan_app came along.
PLAIN_KERAS = """
import json, sys
import keras, numpy as np
root = sys.argv[1]
for name in json.load(open(root + "/names.json")):
    d = f"{root}/{name}"
    inputs = dict(np.load(d + "/inputs.npz"))
    out = {}
    for net in ("generator", "discriminator"):
        model = keras.models.load_model(f"{d}/{net}.keras", safe_mode=True, compile=False)
        feed = [inputs[k] for k in sorted(inputs) if k.startswith(net[0] + "_")]
        out[net] = np.asarray(model(feed if len(feed) > 1 else feed[0], training=False))
    np.savez(d + "/plain.npz", **out)
assert not any(m.split(".")[0] == "gan_app" for m in sys.modules), "gan_app was imported"
print("ok")
"""


def _meta(preset):
    return {"preset": preset.name, "latent_dim": preset.latent_dim, "noise": preset.noise,
            "output_min": preset.output_min, "output_max": preset.output_max,
            "num_classes": preset.num_classes, "groups": preset.groups}


def _on_the_cuts(z, cuts):
    """z whose first number sits on each cut, and one float32 step either side of it."""
    z = z.copy()
    k = len(cuts)
    for i, at in enumerate((cuts, np.nextafter(cuts, np.float32(np.inf)), np.nextafter(cuts, np.float32(-np.inf)))):
        z[i * k:(i + 1) * k, 0] = at
    return z


def test_every_presets_export_opens_in_plain_keras_and_computes_the_same(tmp_path, fast_images):
    assert set(PRESETS) >= {"taehojo", "seed002", "roatienza", "fast", "wide", "conditional"}
    rng = np.random.default_rng(0)
    expected = {}
    for name, preset in PRESETS.items():
        g, d = build_generator(preset), build_discriminator(preset)
        z = rng.standard_normal((160, preset.latent_dim)).astype(np.float32)
        images = fast_images[:8]
        if preset.groups:
            fit_generator_groups(g, fast_images[:1000], preset, seed=0)
            z = _on_the_cuts(z, np.asarray(group_layer(g).cuts))
        inputs = {"g_0z": z, "d_0image": images}
        told = preset.num_classes or preset.groups
        if preset.num_classes:
            inputs["g_1label"] = (np.arange(len(z)) % preset.num_classes).astype(np.int32)
        if told:
            inputs["d_1told"] = (np.arange(len(images)) % told).astype(np.int32)
        g_in = [inputs["g_0z"], inputs["g_1label"]] if preset.num_classes else z
        d_in = [images, inputs["d_1told"]] if told else images
        expected[name] = (np.asarray(g(g_in, training=False)), np.asarray(d(d_in, training=False)))
        write_export(tmp_path / name, g, _meta(preset), d)
        np.savez(tmp_path / name / "inputs.npz", **inputs)
        if preset.groups:  # the app reopens it in the training form: same images, same groups
            export = open_export(tmp_path / name)
            np.testing.assert_array_equal(np.asarray(group_layer(export.generator).cuts), np.asarray(group_layer(g).cuts))
            np.testing.assert_array_equal(np.asarray(group_layer(export.generator).means), np.asarray(group_layer(g).means))
            np.testing.assert_array_equal(np.asarray(export.generator(z, training=False)), expected[name][0])
    (tmp_path / "names.json").write_text(json.dumps(list(PRESETS)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(tmp_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    for name, (g_out, d_out) in expected.items():
        with np.load(tmp_path / name / "plain.npz") as plain:
            np.testing.assert_allclose(plain["generator"], g_out, atol=1e-6, err_msg=name)
            np.testing.assert_allclose(plain["discriminator"], d_out, atol=1e-6, err_msg=name)


def test_plain_keras_picks_the_group_the_training_layer_picks_on_and_beside_every_cut(fast_images):
    preset = get_preset("fast")
    g = build_generator(preset)
    fit_generator_groups(g, fast_images[:1000], preset, seed=0)
    cuts = np.asarray(group_layer(g).cuts)
    from gan_app.models.portable import portable_generator

    z = _on_the_cuts(np.random.default_rng(3).standard_normal((3 * len(cuts), preset.latent_dim)).astype(np.float32), cuts)
    plain = portable_generator(g)
    picks = np.asarray(plain.get_layer("latent_group")(z[:, :1])).reshape(-1)
    np.testing.assert_array_equal(picks, groups_of_z(z, cuts))
    np.testing.assert_array_equal(np.asarray(plain(z, training=False)), np.asarray(g(z, training=False)))


def test_an_export_written_with_the_group_layer_still_opens(tmp_path, fast_images):
    preset = get_preset("fast")
    g = build_generator(preset)
    fit_generator_groups(g, fast_images[:1000], preset, seed=0)
    old = tmp_path / "old"
    old.mkdir()
    save_model_atomic(g, old / "generator.keras")  # as exports were written before: LatentGroup inside
    (old / "meta.json").write_text(json.dumps(_meta(preset)))
    export = open_export(old)
    z = np.random.default_rng(4).standard_normal((5, preset.latent_dim)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(export.generator(z, training=False)), np.asarray(g(z, training=False)))
    np.testing.assert_array_equal(np.asarray(group_layer(export.generator).means), np.asarray(group_layer(g).means))


def test_a_grouped_export_with_missing_or_damaged_group_means_is_refused_in_one_line(tmp_path, fast_images):
    import base64

    preset = get_preset("fast")
    g = build_generator(preset)
    fit_generator_groups(g, fast_images[:1000], preset, seed=0)
    write_export(tmp_path / "e", g, _meta(preset))
    meta = json.loads((tmp_path / "e" / "meta.json").read_text())
    means = meta["group_means"]  # the mean images, exact, readable with numpy alone
    assert (means["dtype"], means["shape"]) == ("float32", [preset.groups, 784])
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(means["base64"]), "<f4").reshape(preset.groups, 784),
                                  np.asarray(group_layer(g).means))
    short = base64.b64encode(base64.b64decode(means["base64"])[:-4]).decode()
    for broken, message in (({k: v for k, v in meta.items() if k != "group_means"}, "lacks its 'group_means'"),
                            ({**meta, "group_means": [[0.0] * 784] * preset.groups}, "one mean image per group"),
                            ({**meta, "group_means": {**means, "shape": [3, 784]}}, "one mean image per group"),
                            ({**meta, "group_means": {**means, "base64": "not base64!"}}, "base64 is damaged"),
                            ({**meta, "group_means": {**means, "base64": short}}, "not the 156800 of 50 mean images")):
        (tmp_path / "e" / "meta.json").write_text(json.dumps(broken))
        with pytest.raises(CheckpointError, match=message) as err:
            load_export(tmp_path / "e")
        assert "\n" not in str(err.value)


def test_the_shipped_models_still_open():
    for directory in (SHIPPED_EXPORT, SHIPPED_CONDITIONAL):
        export = open_export(directory)
        images = export.images01(export.noise(4, 0))
        assert images.shape == (4, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0
    assert open_export(SHIPPED_CONDITIONAL).discriminator is not None
