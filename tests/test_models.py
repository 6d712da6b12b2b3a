import pytest

from gan_app.core.config import PRESETS, get_preset
from gan_app.core.errors import UsageError
from gan_app.models.dcgan import build_discriminator, build_generator, param_counts

# Totals as the tutorials' model.summary() prints them (REFERENCE.md).
TUTORIAL_COUNTS = {
    "taehojo": (856_193, 390_657),
    "seed002": (865_281, 212_865),
    "roatienza": (2_394_241, 4_311_553),
}


@pytest.mark.parametrize("name", sorted(TUTORIAL_COUNTS))
def test_parameter_counts_match_the_tutorials(name):
    assert param_counts(get_preset(name)) == TUTORIAL_COUNTS[name]


def test_seed002_combined_model_totals_as_printed():
    g, d = param_counts(get_preset("seed002"))
    assert g + d == 1_078_146


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_maps_latent_to_28x28_and_images_to_a_probability(name):
    preset = get_preset(name)
    g, d = build_generator(preset), build_discriminator(preset)
    if preset.num_classes:  # told which digit: [z, digit] and [image, digit]
        assert g.input_shape == [(None, preset.latent_dim), (None,)]
        assert d.input_shape == [(None, 28, 28, 1), (None,)]
    else:  # a grouped G picks its group from z itself; its D is told the group
        assert g.input_shape == (None, preset.latent_dim)
        assert d.input_shape == ([(None, 28, 28, 1), (None,)] if preset.groups else (None, 28, 28, 1))
    assert g.output_shape == (None, 28, 28, 1)
    assert d.output_shape == (None, 1)


def test_presets_follow_their_tutorials():
    roatienza = get_preset("roatienza")
    assert (roatienza.optimizer, roatienza.noise, roatienza.output) == ("rmsprop", "uniform", "sigmoid")
    assert (roatienza.output_min, roatienza.output_max) == (0.0, 1.0)
    taehojo = get_preset("taehojo")
    assert (taehojo.optimizer, taehojo.noise, taehojo.batch_size, taehojo.output) == ("adam", "normal", 32, "tanh")
    fast = get_preset("fast")
    assert (fast.optimizer, fast.beta_1, fast.d_lr, fast.g_lr) == ("adam", 0.5, 5e-4, 2e-3)


def test_wide_is_fast_with_twice_the_generator_channels_and_the_same_discriminator():
    fast, wide = get_preset("fast"), get_preset("wide")
    channels = [[layer.filters for layer in build_generator(p).layers if hasattr(layer, "filters")] for p in (fast, wide)]
    assert channels == [[32, 16, 1], [64, 32, 1]]
    assert param_counts(wide)[1] == param_counts(fast.replace(groups=0))[1]  # fast's D without the group plane
    assert (wide.latent_dim, wide.batch_size, wide.r1, fast.r1) == (fast.latent_dim, fast.batch_size, 1.0, 0.0)


def test_unknown_preset_and_bad_overrides_say_what_is_accepted():
    with pytest.raises(UsageError, match="choose one of: taehojo"):
        get_preset("nope")
    with pytest.raises(UsageError, match="batch size must be > 0"):
        get_preset("fast").replace(batch_size=0)
    with pytest.raises(UsageError, match="choose one of: nonsaturating, minimax"):
        get_preset("fast").replace(loss="hinge")
