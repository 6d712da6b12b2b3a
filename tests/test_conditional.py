"""The conditional preset: G and D told which digit, trained by the same fused step, run layer
and CLI, exported with two inputs, and measured by label accuracy."""

import json

import numpy as np
import pytest

from conftest import weights_of
from gan_app.runs.checkpoint import open_export
from gan_app.models.classifier import QualityMeter
from gan_app.cli import main
from gan_app.core.config import get_preset
from gan_app.data.datasets import scale_to_range
from gan_app.models.dcgan import build_discriminator, build_generator, param_counts
from gan_app.train.step import FusedStep

PRESET = get_preset("conditional")


@pytest.fixture(scope="module")
def step(mnist5k):
    images = scale_to_range(mnist5k.x, PRESET.output_min, PRESET.output_max)
    return FusedStep(PRESET.replace(batch_size=16), images, seed=0, labels=mnist5k.y)


def test_conditional_g_and_d_take_the_digit_beside_their_input():
    g, d = build_generator(PRESET), build_discriminator(PRESET)
    assert PRESET.num_classes == 10
    assert g.input_shape == [(None, PRESET.latent_dim), (None,)] and g.output_shape == (None, 28, 28, 1)
    assert d.input_shape == [(None, 28, 28, 1), (None,)] and d.output_shape == (None, 1)
    fast_g, fast_d = param_counts(get_preset("fast").replace(groups=0))  # fast's networks without its groups
    g_params, d_params = param_counts(PRESET)
    # fast's networks plus a 10 x 16 label embedding in G (its first Dense reads 16 more inputs),
    # and in D a 28x28 map per digit read as a second channel by its first 4x4x32 convolution
    assert g_params == fast_g + 10 * 16 + 16 * 7 * 7 * 64
    assert d_params == fast_d + 10 * 28 * 28 + 4 * 4 * 32


def test_the_step_moves_both_networks_and_the_g_update_leaves_d_alone(step):
    d0, g0 = weights_of(step.discriminator), weights_of(step.generator)
    rows = step.train(2)
    assert np.isfinite(rows).all()
    moved_d = {k for k in d0 if not np.array_equal(d0[k], weights_of(step.discriminator)[k])}
    moved_g = {k for k in g0 if not np.array_equal(g0[k], weights_of(step.generator)[k])}
    assert {v.path for v in step.discriminator.trainable_variables} <= moved_d
    assert {v.path for v in step.generator.trainable_variables} <= moved_g
    d1 = weights_of(step.discriminator)
    step.step_g()
    assert all(np.array_equal(d1[k], v) for k, v in weights_of(step.discriminator).items())


def test_the_digit_changes_the_image_and_d_judges_image_and_digit(step):
    z = np.repeat(np.random.default_rng(0).standard_normal((1, PRESET.latent_dim)).astype(np.float32), 10, axis=0)
    images = step.generate(z, np.arange(10))
    assert images.shape == (10, 28, 28, 1) and len({images[i].tobytes() for i in range(10)}) == 10
    p = step.judge(images, np.arange(10))
    direct = step.discriminator([images, np.arange(10).astype(np.int32)], training=False).numpy()[:, 0]
    np.testing.assert_allclose(p, direct, rtol=1e-6)


def test_label_accuracy_is_about_1_for_real_digits_and_a_tenth_for_shuffled_labels(mnist5k):
    meter = QualityMeter()
    images, labels = meter.real_images, meter.real_labels
    assert meter.measure(images, labels).label_accuracy > 0.95
    shuffled = np.random.default_rng(0).permutation(labels)
    assert 0.05 < meter.measure(images, shuffled).label_accuracy < 0.2
    assert meter.measure(images).label_accuracy is None


def test_a_conditional_run_through_the_cli_exports_two_inputs_under_safe_mode(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "conditional", "--steps", "12", "--batch-size", "16", "--saving-interval", "10",
                 "--quality-every", "10", "--quality-samples", "100", "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_classes"] == 10 and 0.0 <= meta["quality"]["label_accuracy"] <= 1.0
    assert (out / "quality.csv").read_text().splitlines()[0].endswith(",label_accuracy")
    export = open_export(out)  # keras.models.load_model(..., safe_mode=True)
    z = export.noise(4, 0)
    a, b = export.images01(z, np.array([1, 1, 1, 1])), export.images01(z, np.array([7, 7, 7, 7]))
    assert a.shape == (4, 28, 28, 1) and not np.array_equal(a, b)
    assert [tuple(s) for s in export.generator.input_shape] == [(None, PRESET.latent_dim), (None,)]


def test_a_dataset_without_labels_is_refused_in_one_line(tmp_path, capsys):
    npz = tmp_path / "unlabelled.npz"
    np.savez(npz, x=np.zeros((64, 28, 28), np.uint8))
    assert main(["train", "--preset", "conditional", "--steps", "2", "--dataset", str(npz), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a labelled dataset" in err and "'unlabelled' has no labels" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_presets_json_names_the_classes():
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["presets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(buf.getvalue())}
    assert rows["conditional"]["num_classes"] == 10 and rows["fast"]["num_classes"] is None


def test_a_conditional_live_run_shows_a_column_per_digit_and_its_label_accuracy():
    from io import BytesIO

    from PIL import Image

    from conftest import wait_for
    from gan_app.core.config import RunConfig
    from gan_app.live.trainer import LiveTrainer

    trainer = LiveTrainer(RunConfig(preset="conditional", batch_size=16, quality_every=10, quality_samples=100))
    try:
        for _ in range(10):
            trainer.step_once("both")
        wait_for(lambda: trainer.snapshot().step == 10 and trainer.snapshot().label_accuracy is not None)
        snap = trainer.snapshot()
        grid = Image.open(BytesIO(snap.grid_png))
        assert grid.size == (10 * 30 + 2, 5 * 30 + 2)  # 10 columns (digits 0-9) of 5 samples, 28 px + 2 px gaps
        assert 0.0 <= snap.label_accuracy <= 1.0
    finally:
        trainer.close()


def test_the_shipped_conditional_model_reproduces_its_recorded_quality(capsys):
    from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL as shipped

    meta = json.loads((shipped / "meta.json").read_text())
    assert (shipped / "generator.keras").stat().st_size <= 10 * 1024 * 1024
    assert meta["num_classes"] == 10 and meta["command"].startswith("python -m gan_app train --preset conditional")
    assert meta["quality"]["fid"] <= 15 and meta["quality"]["label_accuracy"] >= 0.97  # 1,000 samples, uniform digits
    assert main(["quality", str(shipped)]) == 0  # on the latents and digits its run measured
    q = json.loads(capsys.readouterr().out)
    assert q["fid"] == pytest.approx(meta["quality"]["fid"], abs=1.0)
    assert q["label_accuracy"] == pytest.approx(meta["quality"]["label_accuracy"], abs=0.01)
