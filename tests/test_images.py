import io

import numpy as np
from PIL import Image

from gan_app.core.images import gif_bytes, grid_png, image_png, strip_png


def test_grid_is_5x5_digits_enlarged_for_a_projector():
    images = np.zeros((25, 28, 28, 1), np.float32)
    images[7] = 1.0  # one white digit: row 1, column 2
    im = Image.open(io.BytesIO(grid_png(images, scale=1)))
    assert im.size == (152, 152) and im.mode == "L"
    arr = np.array(im)
    assert arr[2 + 30 + 5, 2 + 60 + 5] == 255 and arr[2 + 5, 2 + 5] == 0


def test_strip_and_single_image_sizes():
    assert Image.open(io.BytesIO(strip_png(np.zeros((10, 28, 28)), scale=1))).size == (302, 32)
    assert Image.open(io.BytesIO(image_png(np.zeros((28, 28, 1)), scale=10))).size == (280, 280)


def test_progress_gif_has_every_frame_and_loops():
    frames = [grid_png(np.full((25, 28, 28), v, np.float32), scale=1) for v in (0.0, 0.5, 1.0)]
    gif = Image.open(io.BytesIO(gif_bytes(frames, duration_ms=100)))
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.info.get("loop") == 0
