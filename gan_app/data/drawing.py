"""Images people bring (a drawing on the canvas, an uploaded picture) made to look like the
training data, the way MNIST was prepared: grayscale, white ink on black, the digit scaled to fit
a 20x20 box (aspect kept) and placed in 28x28 with its centre of mass at the centre."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from gan_app.core.errors import ImageInputError

BOX = 20  # MNIST fits each digit in 20x20 and centres it by mass in 28x28
SIZE = 28
INK = 0.2  # a pixel at least this bright (after inversion) is ink
MAX_PIXELS = 4096 * 4096  # bigger pictures are refused before decoding


def decode(data: bytes, name: str = "the image") -> Image.Image:
    """A PNG, JPEG (or any format Pillow reads) from bytes; one clear line otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageInputError(f"{name} is {probe.width}x{probe.height} pixels, more than "
                                      f"{MAX_PIXELS:,} allowed")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except ImageInputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ImageInputError(f"{name} is not an image Pillow can read (PNG or JPEG)") from None
    return image


def grayscale01(image: Image.Image) -> np.ndarray:
    """(H, W) float32 in [0, 1]; transparent pixels count as background (composited on white)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), np.float32) / 255.0


def to_mnist(image: Image.Image | np.ndarray, name: str = "the drawing") -> np.ndarray:
    """(28, 28, 1) float32 in [0, 1], white on black, scaled and centred like MNIST."""
    g = grayscale01(image) if isinstance(image, Image.Image) else np.asarray(image, np.float32).squeeze()
    if g.ndim != 2 or min(g.shape) < 2:
        raise ImageInputError(f"{name} has shape {g.shape}; expected a 2-D picture")
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:  # a light background: dark ink on paper becomes white on black
        g, border = 1.0 - g, 1.0 - border
    g = np.clip(g - np.median(border), 0.0, 1.0)  # the background goes to black
    if g.max() < INK:
        raise ImageInputError(f"{name} is empty: draw or upload a digit")
    g = g / g.max()
    rows, cols = np.flatnonzero((g >= INK).any(axis=1)), np.flatnonzero((g >= INK).any(axis=0))
    crop = g[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS), np.float32) / 255
    out = np.zeros((SIZE, SIZE), np.float32)
    total = small.sum()
    cy, cx = ((np.indices(small.shape) * small).reshape(2, -1).sum(axis=1) / total) if total else (h / 2, w / 2)
    top = int(np.clip(round(SIZE / 2 - cy - 0.5), 0, SIZE - small.shape[0]))
    left = int(np.clip(round(SIZE / 2 - cx - 0.5), 0, SIZE - small.shape[1]))
    out[top: top + small.shape[0], left: left + small.shape[1]] = small
    return np.clip(out, 0.0, 1.0)[..., None]
