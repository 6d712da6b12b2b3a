"""Mixed precision in the fused step: 16-bit activations, float32 weights, float32 losses, and
float32 exports. The same code runs on a GPU; here it runs on the CPU."""

import numpy as np
import pytest

from gan_app.runs.checkpoint import open_export
from gan_app.core.config import RunConfig, get_preset
from gan_app.core.errors import UsageError
from gan_app.models.dcgan import group_layer
from gan_app.runs.run import Run
from gan_app.train.step import FusedStep


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_the_losses_finite_and_the_samples_in_range(fast_images, precision):
    import keras

    p = get_preset("fast")
    step = FusedStep(p, fast_images[:1000], seed=0, precision=precision)
    half = precision.removeprefix("mixed_")
    for model in (step.generator, step.discriminator, step.averaged):
        hidden = [layer for layer in model.layers if layer.weights and not isinstance(layer, keras.layers.InputLayer)]
        assert {layer.compute_dtype for layer in hidden[1:-1]} >= {half}  # the work is in 16 bits
        assert model.layers[-1].compute_dtype == "float32"  # the output feeds the losses in float32
        assert {v.dtype for v in model.weights} == {"float32"}  # weights stay float32
    assert group_layer(step.generator).compute_dtype == "float32"  # cut points compared in float32
    assert isinstance(step.g_optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    before = [v.numpy().copy() for v in step.generator.trainable_variables]
    rows = step.train(30)
    assert rows.shape == (30, 6) and np.isfinite(rows).all()
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(before, step.generator.trainable_variables))
    z = np.random.default_rng(0).standard_normal((16, p.latent_dim)).astype(np.float32)
    x = step.generate(z)
    assert x.dtype == np.float32 and np.isfinite(x).all() and x.min() >= -1.0 and x.max() <= 1.0
    assert np.isfinite(step.judge(x)).all()


def test_a_mixed_precision_run_exports_float32_networks(tmp_path, mnist5k):
    run = Run(RunConfig(precision="mixed_bfloat16", batch_size=16, quality_every=0), dataset=mnist5k)
    run.train(3)
    run.export(tmp_path / "e")
    export = open_export(tmp_path / "e")
    assert export.meta["precision"] == "mixed_bfloat16"
    for model in (export.generator, export.discriminator):
        assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    z = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    np.testing.assert_allclose(export.images01(z), (run.step_obj.generate(z) + 1) / 2, atol=0.02)


def test_precision_is_checked_with_a_message():
    with pytest.raises(UsageError, match="choose one of: float32, mixed_bfloat16, mixed_float16"):
        RunConfig(precision="float8").validate()
    with pytest.raises(UsageError, match="classic recipe computes in float32"):
        RunConfig(precision="mixed_float16", mode="classic").validate()
