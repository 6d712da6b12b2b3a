"""Choosing the digit in the latent lab, and what D thinks: the live grid's D scores, the
discriminator saved with every export, and D's verdict in the lab."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, CheckpointError, open_export
from gan_app.core.config import RunConfig, get_preset
from gan_app.lab.model import GeneratorWeights, LabGenerator
from gan_app.models.dcgan import image_groups
from gan_app.core.latent import grid_latents
from gan_app.live.view import RunView
from gan_app.runs.run import Run
from gan_app.ui.live.channel import live_update


@pytest.fixture(scope="module")
def conditional():
    return LabGenerator.from_export(open_export(SHIPPED_CONDITIONAL))


def test_the_digit_changes_the_image_at_the_same_z(conditional):
    z = conditional.noise(1, 5)
    sevens, threes = conditional.images01(z, 7), conditional.images01(z, 3)
    assert np.abs(sevens - threes).mean() > 0.05
    np.testing.assert_array_equal(conditional.images01(z, 7), sevens)  # nothing but the digit moved it


def test_same_z_every_digit_and_a_blend_between_two_digits(conditional):
    from gan_app.lab.model import reference_labeller

    z = conditional.noise(1, 11)[0]
    every = conditional.images01(np.repeat(z[None], 10, axis=0), np.arange(10))
    assert (reference_labeller()(every).argmax(axis=1) == np.arange(10)).mean() >= 0.9  # each reads as its digit
    assert conditional.can_blend_digits
    blend = conditional.blend_digits(z, 2, 8, 5)
    np.testing.assert_allclose(blend[0], every[2], atol=1e-5)  # the ends are the two digits at this z
    np.testing.assert_allclose(blend[-1], every[8], atol=1e-5)
    assert np.abs(blend[2] - blend[0]).mean() > 0.01 and np.abs(blend[2] - blend[-1]).mean() > 0.01
    path = conditional.noise(4, 12)  # from one student's 3 to another's 8: z and digit move together
    walk = conditional.blend_path(path, 3, 8)
    np.testing.assert_allclose(walk[0], conditional.images01(path[:1], 3)[0], atol=1e-5)
    np.testing.assert_allclose(walk[-1], conditional.images01(path[-1:], 8)[0], atol=1e-5)


def test_a_drawing_found_by_one_student_is_offered_to_the_class(conditional):
    from gan_app.lab.points import PER_VERSION, ClassPoints

    points_of = ClassPoints()
    heard = []
    points_of.listener = lambda version, points: heard.append((version, points))
    z = conditional.noise(1, 1)[0]
    first = points_of.share(conditional.version, "Ana", z, 8)
    for i in range(PER_VERSION + 3):
        points_of.share(conditional.version, "Ben", z, 3)
    points = points_of.of(conditional.version)
    assert len(points) == PER_VERSION and first not in points  # the newest 32 are kept
    name, (found_z, digit) = next(iter(points.items()))
    assert name == f"Ben #{PER_VERSION + 4}" and digit == 3
    np.testing.assert_allclose(found_z, z, atol=5e-4)  # kept to 3 decimals: the same image
    assert heard[-1][0] == conditional.version and heard[-1][1][0]["name"] == name  # open labs are told


def test_directions_of_a_conditional_generator_keep_the_digit(conditional):
    from gan_app.lab.model import reference_labeller

    directions, _ = conditional.sefa
    z = conditional.noise(8, 3)
    moved = z + 2.0 * directions[0]
    probs = reference_labeller()(conditional.images01(moved, 7))
    assert (probs.argmax(axis=1) == 7).mean() >= 0.75  # dragging a direction, the 7 stays a 7
    assert conditional.pca[0].shape == (10, conditional.latent_dim)


def _drawn_grid(preset: str, steps: int) -> tuple[Run, RunView]:
    run = Run(RunConfig(preset=preset, batch_size=16, quality_every=0))
    run.train(steps)
    view = RunView()
    view.draw_grid(run)
    return run, view


def test_the_live_grid_scores_are_d_called_directly_on_its_samples():
    run, view = _drawn_grid("fast", 3)
    z, _ = grid_latents(run.preset, run.config.seed)
    images = run.step_obj.generate(z)
    groups = image_groups(run.step_obj.generator, images)  # fast's D judges each sample as its nearest group
    direct = run.step_obj.discriminator([images, groups], training=False).numpy()[:, 0]
    np.testing.assert_allclose(view.grid_scores, direct, atol=1e-4)
    assert len(view.grid_scores) == 25 and view.grid_columns == 5


def test_a_conditional_grid_is_judged_as_the_digit_of_its_column():
    run, view = _drawn_grid("conditional", 2)
    z, digits = grid_latents(run.preset, run.config.seed)
    direct = run.step_obj.discriminator([run.step_obj.generate(z, digits), digits], training=False).numpy()[:, 0]
    np.testing.assert_allclose(view.grid_scores, direct, atol=1e-4)
    assert view.grid_columns == 10 and list(digits[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_the_live_update_carries_the_scores_for_every_tab():
    from gan_app.live.types import Snapshot

    snap = Snapshot(grid_png=b"\x89PNG", grid_step=20, grid_scores=(0.25, 0.75) * 25, grid_columns=10)
    update = live_update(snap)
    assert update["scores"] == [0.25, 0.75] * 25 and update["columns"] == 10 and update["rows"] == 5


def test_the_lab_judges_with_d_of_the_same_step(fast_images):
    from gan_app.train.step import FusedStep

    step = FusedStep(get_preset("fast"), fast_images, seed=0)
    step.train(3)
    w = GeneratorWeights("fast", 3, 3, 0, tuple(step.sampler.get_weights()), "normal", -1.0, 1.0,
                         tuple(step.discriminator.get_weights()))
    lab = LabGenerator.from_live(w)
    images = lab.images01(lab.noise(4, 0))
    np.testing.assert_allclose(lab.judge01(images), step.judge(images * 2 - 1), atol=1e-5)
    without = LabGenerator.from_live(GeneratorWeights("fast", 3, 3, 0, w.weights, "normal", -1.0, 1.0))
    assert without.judge01(images) is None


def test_exports_carry_their_discriminator_and_refuse_a_foreign_one(tmp_path):
    import shutil

    run = Run(RunConfig(preset="fast", batch_size=16, quality_every=0))
    run.train(2)
    run.export(tmp_path / "e")
    export = open_export(tmp_path / "e")
    images = export.images01(export.noise(3, 0))
    np.testing.assert_allclose(LabGenerator.from_export(export).judge01(images), run.judge01(images), atol=1e-5)
    assert open_export(SHIPPED_EXPORT).discriminator is None  # an export without one: "no discriminator saved"
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "e", bad)
    shutil.copy(bad / "generator.keras", bad / "discriminator.keras")  # a generator where D should be
    with pytest.raises(CheckpointError, match="not this export's discriminator"):
        open_export(bad)
    run.export(tmp_path / "e")  # exporting again replaces both, never one step's G beside another's D
    assert (tmp_path / "e" / "discriminator.keras").is_file()


def _lab_page():
    from gan_app.ui.lab import page as lab_page

    lab_page.render()


def test_the_lab_digit_selector_changes_the_image_and_keeps_z():
    at = AppTest.from_function(_lab_page, default_timeout=180)
    at.session_state["lab_on_server"] = True  # the server-drawn lab (the browser lab: test_browser_lab.py)
    at.session_state["lab_source"] = "Opened model"
    at.run()
    at.selectbox(key="lab_model").set_value("mnist5k-conditional (shipped, choose the digit)").run()
    assert not at.exception
    first = at.image[0].proto.imgs[0]
    assert "digit 7" in first.caption  # a conditional model opens on a digit, and says which
    assert at.metric[0].label.startswith("D: probability this is a real digit as a 7")
    at.radio(key="lab_digit").set_value(3).run()
    second = at.image[0].proto.imgs[0]
    assert not at.exception and second.url != first.url and "digit 3" in second.caption
    assert second.caption.split("|z| = ")[1] == first.caption.split("|z| = ")[1]  # the same z
    assert "Digits" in [t.label for t in at.tabs]
    at.selectbox(key="lab_model").set_value("mnist5k-wide (shipped)").run()
    assert not at.exception and any("no discriminator saved" in c.value for c in at.caption)


def test_a_clicked_sample_becomes_the_explorers_point():
    model = LabGenerator.from_export(open_export(SHIPPED_EXPORT))
    z = model.noise(1, 99)[0]
    at = AppTest.from_function(_lab_page, default_timeout=180)
    at.session_state["lab_on_server"] = True  # the server-drawn lab (the browser lab: test_browser_lab.py)
    at.session_state["lab_source"] = "Opened model"
    at.session_state["lab_SeFa_0"] = 2.0  # a direction was dragged before the click
    at.session_state["lab_pending"] = ("point", z.tolist(), None, "sample 3 of the sample grid")
    at.run()
    assert not at.exception
    assert any("Exploring sample 3 of the sample grid" in c.value for c in at.caption)
    caption = at.image[0].proto.imgs[0].caption
    assert f"|z| = {np.linalg.norm(z):.2f}" in caption  # exactly the clicked z: the dragged direction went back to 0
