"""Pictures of generator output: the tutorial's 5x5 grid as PNG bytes (Pillow, no matplotlib),
single images, strips and animated GIFs. Inputs are float images in [0, 1], (N, 28, 28[, 1])."""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
from PIL import Image

GRID_SIDE = 5  # the tutorial's 5x5 grid of 25 samples
PAD = 2  # pixels between digits


def _to_uint8(images01: np.ndarray) -> np.ndarray:
    arr = np.asarray(images01, np.float32)
    if arr.ndim == 4:
        arr = arr[..., 0]
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def tile(images01: np.ndarray, rows: int, cols: int, scale: int = 4) -> Image.Image:
    """rows x cols digits on a dark background, each enlarged `scale` times (nearest)."""
    digits = _to_uint8(images01)
    h, w = digits.shape[1:3]
    canvas = np.full((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD), 40, np.uint8)
    for i, digit in enumerate(digits[: rows * cols]):
        r, c = divmod(i, cols)
        canvas[PAD + r * (h + PAD) : PAD + r * (h + PAD) + h, PAD + c * (w + PAD) : PAD + c * (w + PAD) + w] = digit
    img = Image.fromarray(canvas)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale != 1 else img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def grid_png(images01: np.ndarray, scale: int = 4, side: int = GRID_SIDE, columns: int | None = None) -> bytes:
    """The 5x5 sample grid (gan_mnist_%d.png of the tutorial) as PNG bytes; other sides too, or
    rows of `columns` images (a conditional run's grid: one column per digit)."""
    if columns:
        return png_bytes(tile(images01, -(-len(images01) // columns), columns, scale))
    return png_bytes(tile(images01, side, side, scale))


def strip_png(images01: np.ndarray, scale: int = 3) -> bytes:
    """One row of images, e.g. an interpolation."""
    return png_bytes(tile(images01, 1, len(images01), scale))


def image_png(image01: np.ndarray, scale: int = 10) -> bytes:
    """One digit, large enough for a projector."""
    digit = _to_uint8(np.asarray(image01)[None])[0]
    img = Image.fromarray(digit)
    return png_bytes(img.resize((img.width * scale, img.height * scale), Image.NEAREST))


def enlarge_png(png: bytes, scale: int) -> bytes:
    """The same picture `scale` times larger, pixels kept sharp (a download of a live grid)."""
    img = Image.open(io.BytesIO(png))
    return png_bytes(img.resize((img.width * scale, img.height * scale), Image.NEAREST))


def data_url(png: bytes) -> str:
    """A PNG as a data: URL, which a page embeds instead of asking the server for a file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def gif_bytes(frames: Sequence[bytes | Image.Image], duration_ms: int = 200, loop: int = 0, scale: int = 1) -> bytes:
    """Animated GIF from PNG bytes or Pillow images (a progress animation or a latent walk)."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    images = [f if isinstance(f, Image.Image) else Image.open(io.BytesIO(f)) for f in frames]
    images = [im.convert("L") for im in images]
    if scale != 1:
        images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=loop)
    return buf.getvalue()
