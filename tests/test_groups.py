"""`fast`'s groups: k-means groups of the training images that G picks from z and D is told."""

import numpy as np
import pytest

from gan_app.runs.checkpoint import open_export, write_export
from gan_app.core.config import get_preset
from gan_app.data.datasets import scale_to_range
from gan_app.data.groups import cut_points, fit_groups, groups_of_z, nearest_group
from gan_app.lab.model import LabGenerator
from gan_app.models.dcgan import build_generator, group_layer, image_groups, param_counts, set_groups
from gan_app.train.step import FusedStep


@pytest.fixture(scope="module")
def images(mnist5k):
    return scale_to_range(mnist5k.x[:1200], -1.0, 1.0)


def test_groups_split_the_images_into_look_alikes_deterministically(images, mnist5k):
    means, shares = fit_groups(images, 10, seed=0)
    again, _ = fit_groups(images, 10, seed=0)
    np.testing.assert_array_equal(means, again)
    assert means.shape == (10, 784) and shares.shape == (10,)
    assert shares.sum() == pytest.approx(1.0) and (shares > 0).all()
    assert list(nearest_group(means, means)) == list(range(10))  # each mean is nearest itself
    # Look-alikes: most images of a group are one digit, far above the 10% of chance
    groups, labels = nearest_group(images, means), mnist5k.y[:1200]
    purity = sum(np.bincount(labels[groups == j]).max() for j in np.unique(groups)) / len(groups)
    assert purity > 0.5
    with pytest.raises(ValueError, match="cannot be split"):
        fit_groups(images[:3], 10)


@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_z_picks_each_group_as_often_as_its_share(noise):
    shares = np.array([0.1, 0.4, 0.2, 0.3])
    cuts = cut_points(shares, noise)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200_000, 8)) if noise == "normal" else rng.uniform(-1, 1, (200_000, 8))
    picked = np.bincount(groups_of_z(z, cuts), minlength=4) / len(z)
    np.testing.assert_allclose(picked, shares, atol=0.005)


def test_gs_group_layer_picks_what_numpy_picks_and_is_not_trained(images):
    preset = get_preset("fast")
    g = build_generator(preset)
    means, shares = fit_groups(images, preset.groups)
    set_groups(g, means, cut_points(shares, preset.noise))
    z = np.random.default_rng(1).standard_normal((500, preset.latent_dim)).astype(np.float32)
    layer = group_layer(g)
    np.testing.assert_array_equal(np.asarray(layer(z)), groups_of_z(z, np.asarray(layer.cuts)))
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2
    np.testing.assert_array_equal(image_groups(g, images), nearest_group(images, means))
    assert image_groups(build_generator(get_preset("wide")), images) is None


def test_the_fused_step_trains_every_group_evenly_and_samples_them_as_the_data_has_them(images):
    preset = get_preset("fast")
    step = FusedStep(preset, images, seed=0)
    means = np.asarray(group_layer(step.generator).means)
    shares = np.bincount(nearest_group(images, means), minlength=preset.groups) / len(images)
    # D is told each real image's nearest group
    np.testing.assert_array_equal(step.real_labels.numpy(), nearest_group(images, means))
    even = cut_points(np.full(preset.groups, 1 / preset.groups), preset.noise)
    np.testing.assert_allclose(np.asarray(group_layer(step.generator).cuts), even, atol=1e-6)
    np.testing.assert_allclose(np.asarray(group_layer(step.averaged).cuts), cut_points(shares, preset.noise), atol=1e-6)
    # D is told the group z picks for each fake
    z, told = step._fake_inputs(64)
    np.testing.assert_array_equal(told.numpy(), groups_of_z(z.numpy(), even))
    rows = step.train(3)
    assert np.isfinite(rows).all()
    # the moving average leaves the groups as found
    np.testing.assert_allclose(np.asarray(group_layer(step.averaged).means), means)
    np.testing.assert_allclose(np.asarray(group_layer(step.averaged).cuts), cut_points(shares, preset.noise), atol=1e-6)
    verdicts = step.judge(images[:8])
    assert verdicts.shape == (8,) and ((verdicts >= 0) & (verdicts <= 1)).all()


def test_a_grouped_export_loads_in_safe_mode_and_d_judges_by_the_nearest_group(images, tmp_path):
    preset = get_preset("fast")
    step = FusedStep(preset, images, seed=0)
    step.train(2)
    meta = {"latent_dim": preset.latent_dim, "noise": preset.noise, "output_min": -1.0, "output_max": 1.0,
            "preset": "fast", "num_classes": None, "groups": preset.groups}
    write_export(tmp_path / "e", step.sampler, meta, step.discriminator)
    export = open_export(tmp_path / "e")
    lab = LabGenerator.from_export(export)
    z = np.random.default_rng(2).standard_normal((6, preset.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(lab.images01(z), (step.generate(z) + 1) / 2, atol=1e-5)
    x01 = (images[:5] + 1) / 2
    np.testing.assert_allclose(lab.judge01(x01), step.judge(images[:5]), atol=1e-5)


def test_the_default_preset_is_the_recipe_the_readme_states():
    fast = get_preset("fast")
    assert (fast.groups, fast.latent_dim, fast.batch_size, fast.d_lr, fast.g_lr, fast.beta_1, fast.ema) == (
        50, 64, 64, 5e-4, 2e-3, 0.5, 0.995)
    g, d = param_counts(fast)
    assert (g, d) == (344_770, 76_225)
    readme = open("README.md", encoding="utf-8").read()
    assert f"{g:,}" in readme and f"{d:,}" in readme and "50 groups" in readme


def test_find_starts_a_grouped_g_in_the_groups_nearest_the_drawing_and_keeps_each_start_there(images, mnist5k):
    """z's first number picks the group, a step the gradient cannot cross: the search's starts go
    to the GROUPS_SEARCHED groups whose mean image is nearest the target, dealt out in turn, and
    stay in them."""
    from gan_app.data.groups import first_numbers_in, nearest_groups
    from gan_app.lab.inversion import GROUPS_SEARCHED, Projector

    preset = get_preset("fast")
    g = build_generator(preset)
    means, shares = fit_groups(images, preset.groups)
    cuts = cut_points(shares, preset.noise)
    set_groups(g, means, cuts)
    meta = {"latent_dim": preset.latent_dim, "noise": preset.noise, "output_min": -1.0, "output_max": 1.0}
    projector = Projector(g, meta)
    target01 = mnist5k.x[4000] / 255.0  # not among the images the groups were fitted on
    nearest = nearest_groups(target01 * 2 - 1, means, GROUPS_SEARCHED)
    distances = ((means - (target01 * 2 - 1).reshape(1, -1)) ** 2).sum(axis=1)
    np.testing.assert_array_equal(nearest, np.argsort(distances)[:GROUPS_SEARCHED])
    z0 = projector.starts(target01, 16, seed=0)
    picked = groups_of_z(z0, cuts)
    np.testing.assert_array_equal(picked, np.tile(nearest, 4))  # 4 starts in each, nearest first
    for j in nearest:  # a group's starts spread inside its interval between the cuts
        first = np.sort(z0[picked == j, 0])
        assert len(np.unique(first)) == 4
    np.testing.assert_array_equal(z0[:, 0], first_numbers_in(np.tile(nearest, 4), cuts, preset.noise))
    # the other numbers are the prior's draws, as for any generator
    np.testing.assert_array_equal(z0[:, 1:], Projector(g, meta, group_starts=False).starts(target01, 16, 0)[:, 1:])
    found = projector.project(target01, steps=25, screen=10, keep=2)
    assert found.z[0] in set(z0[:, 0])  # the winner's group is still the one it started in
    assert groups_of_z(found.z[None], cuts)[0] in nearest
    with pytest.raises(ValueError, match="groups run from 0 to 49"):
        first_numbers_in(np.array([preset.groups]), cuts, preset.noise)
