"""Latent-space maths, the lab's generator wrapper, and the latent lab page."""

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_app.core import latent
from gan_app.runs.checkpoint import SHIPPED_EXPORT as SHIPPED, open_export
from gan_app.core.config import get_preset
from gan_app.core.images import gif_bytes, image_png
from gan_app.lab.model import LabGenerator, reference_labeller
from gan_app.train.step import FusedStep
from gan_app.core.latent import fixed_noise


@pytest.fixture(scope="module")
def shipped():
    return LabGenerator.from_export(open_export(SHIPPED))


def test_slerp_hits_its_endpoints_and_keeps_unit_vectors_on_the_sphere():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(100), rng.standard_normal(100)
    np.testing.assert_allclose(latent.slerp(a, b, 0.0), a, atol=1e-9)
    np.testing.assert_allclose(latent.slerp(a, b, 1.0), b, atol=1e-9)
    ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
    norms = [np.linalg.norm(latent.slerp(ua, ub, t)) for t in np.linspace(0, 1, 11)]
    np.testing.assert_allclose(norms, 1.0, atol=1e-9)
    # the linear midpoint of two typical N(0,1) latents falls well inside the ~sqrt(d) shell
    assert np.linalg.norm(latent.lerp(a, b, 0.5)) < 0.8 * np.sqrt(100)
    assert np.linalg.norm(latent.slerp(a, b, 0.5)) > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b))


def test_interpolation_and_walk_shapes():
    pts = [np.zeros(4), np.ones(4), 2 * np.ones(4)]
    path = latent.interpolate(pts, 5, "lerp")
    assert path.shape == (9, 4) and np.allclose(path[0], 0) and np.allclose(path[4], 1) and np.allclose(path[-1], 2)
    loop = latent.walk(pts, frames_per_leg=6)
    assert loop.shape == (18, 4)
    with pytest.raises(ValueError):
        latent.walk(pts[:2], 6)


def test_sefa_directions_are_orthonormal_and_ordered():
    kernel = np.random.default_rng(0).standard_normal((16, 50))
    dirs, values = latent.sefa_directions(kernel)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(16), atol=1e-5)
    assert np.all(np.diff(values) <= 1e-9)


def test_pca_of_a_linear_layer_without_its_activations_matches_pca_of_them():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 16))
    inputs = np.concatenate([z, rng.standard_normal((500, 4))], axis=1)  # [z, a digit's embedding]
    kernel, bias = rng.standard_normal((20, 300)), rng.standard_normal(300)
    expected, ratio = latent.pca_directions(z, inputs @ kernel + bias, k=5)
    got, got_ratio = latent.pca_directions_linear(z, inputs, kernel, k=5)
    np.testing.assert_allclose(got_ratio, ratio, rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(got * expected, axis=1)), 1.0, atol=1e-4)  # the same up to sign


def test_pca_directions_are_ordered_by_explained_variance():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 8))
    acts = np.stack([5 * z[:, 0], 2 * z[:, 1], 0.5 * z[:, 2]], axis=1) + 0.01 * rng.standard_normal((2000, 3))
    dirs, ratio = latent.pca_directions(z, acts, k=3)
    assert np.all(np.diff(ratio) < 0) and ratio[0] > 0.8
    assert abs(dirs[0][0]) > 0.99 and abs(dirs[1][1]) > 0.99  # recovered the latent axes behind them
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-6)


def test_analogy_grid_corners():
    a, b, c = np.eye(3)
    grid = latent.analogy_grid(a, b, c)
    assert grid.shape == (9, 3)
    np.testing.assert_allclose(grid[[0, 2, 6, 8]], [a, b, c, a - b + c])


def test_class_direction_raises_the_labellers_probability_of_its_digit(shipped):
    labeller = reference_labeller()
    directions = shipped.class_directions(labeller)
    assert len(directions) >= 8
    z = shipped.noise(300, seed=99)
    base = labeller(shipped.images01(z))
    raised = 0
    for k, d in directions.items():
        moved = labeller(shipped.images01(z + 2.0 * d))
        raised += moved[:, k].mean() > base[:, k].mean() + 0.05
    assert raised >= 0.8 * len(directions)


def test_lab_generator_draws_in_range_and_directions_are_cached(shipped):
    imgs = shipped.images01(shipped.noise(4, 0))
    assert imgs.shape == (4, 28, 28, 1) and 0 <= imgs.min() and imgs.max() <= 1
    assert shipped.sefa is shipped.sefa and shipped.sefa[0].shape == (shipped.latent_dim, shipped.latent_dim)
    assert shipped.pca[0].shape == (10, shipped.latent_dim)


def test_live_weights_become_a_lab_generator_that_matches_the_trainer(fast_images):
    from gan_app.lab.model import GeneratorWeights

    step = FusedStep(get_preset("fast"), fast_images, seed=0)
    step.train(3)
    w = GeneratorWeights("fast", 3, 3, 0, tuple(step.sampler.get_weights()), "normal", -1.0, 1.0)
    lab = LabGenerator.from_live(w)
    z = fixed_noise(get_preset("fast"), 0)
    np.testing.assert_allclose(lab.images01(z), (step.generate(z) + 1) / 2, atol=1e-5)
    assert lab.version == "live:0:3"


def test_walk_gif_has_the_requested_frames(shipped):
    pts = [shipped.noise(1, s)[0] for s in (1, 2, 3)]
    frames = latent.walk(pts, frames_per_leg=5)
    gif = Image.open(io.BytesIO(gif_bytes([image_png(im, 4) for im in shipped.images01(frames)], 80)))
    assert gif.n_frames == 15


def _lab_page():
    from gan_app.ui.lab import page as lab_page

    lab_page.render()


def test_lab_page_moves_the_image_when_a_direction_slider_moves():
    at = AppTest.from_function(_lab_page, default_timeout=180)
    at.session_state["lab_on_server"] = True  # the server-drawn lab (the browser lab: test_browser_lab.py)
    at.session_state["opened_model"] = open_export(SHIPPED)
    at.session_state["lab_source"] = "Opened model"
    at.run()
    assert not at.exception
    before = at.image[0].proto.imgs[0].url
    caption = at.image[0].proto.imgs[0].caption
    assert "|z| =" in caption
    at.slider(key="lab_SeFa_0").set_value(2.5).run()
    assert not at.exception and at.image[0].proto.imgs[0].url != before
    at.radio(key="lab_method").set_value("lerp").run()
    assert not at.exception
    assert any("walk" in el.proto.label for el in at.get("download_button"))
