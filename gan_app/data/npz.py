"""An .npz dataset is bounded before it is unpacked.

An .npz is a zip archive of .npy arrays, and np.load would allocate whatever an array's header
declares: a 1.5 MB file can declare 2,000,000 images (1.5 GB, then 6 GB as float32). So every
member is checked first, from the archive's central directory and the .npy headers alone (shape,
dtype, fortran order: a few hundred bytes each): the number of images against a limit, the
image shape and dtype, the bytes each array declares, each member's decompressed size and its
compression ratio. Python objects (pickles) are refused; np.load then runs with
allow_pickle=False and can allocate no more than was checked.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from gan_app.data.zips import MAX_IMAGES, MAX_RATIO
from gan_app.core.errors import DatasetError

MAX_NPZ_IMAGES = 70_000  # the CLI's limit: all of MNIST (60,000 + 10,000)
UPLOAD_NPZ_IMAGES = MAX_IMAGES  # the dashboard's upload: the same as a zip of images
MAX_MEMBERS = 64
MAX_HEADER_BYTES = 10_000  # numpy's own default bound on an .npy header
IMAGE_PIXELS = 28 * 28
MAX_ITEMSIZE = 8  # float64
EXPECTED = "an .npz with key 'x' of shape (N,28,28) or (N,28,28,1), uint8 0-255 or float 0-1, optional 'y'"


def _header(f, name: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
        shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
    else:
        raise ValueError(f"{name}: unknown .npy version {version}")
    return tuple(int(s) for s in shape), np.dtype(dtype)


def check_npz(path: Path, max_images: int = MAX_NPZ_IMAGES) -> None:
    """Refuse, in one line naming the file and the limit, an .npz that holds more than
    `max_images` images or would unpack to more than such a dataset needs. Reads headers only."""
    name = path.name
    limit = f"the {max_images:,}-image limit for an .npz dataset"
    max_bytes = max_images * IMAGE_PIXELS * MAX_ITEMSIZE  # float64 images at the limit
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise DatasetError(f"{name} holds {len(infos):,} arrays, over the {MAX_MEMBERS} an .npz dataset may hold; "
                                   f"expected {EXPECTED}")
            for info in infos:
                _check_member(archive, info, name, max_images, max_bytes, limit)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, SyntaxError,
            NotImplementedError, RuntimeError) as exc:  # not a zip, a damaged or encrypted member, a bad header
        raise DatasetError(f"{name} is not a readable .npz ({type(exc).__name__}); expected {EXPECTED}") from None


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, max_images: int, max_bytes: int,
                  limit: str) -> None:
    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if not info.filename.endswith(".npy"):
        raise DatasetError(f"{name}: member {info.filename!r} is not a NumPy array; expected {EXPECTED}")
    with archive.open(info) as f:
        shape, dtype = _header(f, name)
    if dtype.hasobject:
        raise DatasetError(f"{name}: {key!r} holds Python objects (a pickle), which are never loaded; expected {EXPECTED}")
    if key == "x":
        images = shape[0] if shape else 0
        if images > max_images:
            raise DatasetError(f"{name} holds {images:,} images, over {limit}; nothing was loaded")
        if tuple(shape[1:]) not in ((28, 28), (28, 28, 1)) or images == 0:
            raise DatasetError(f"{name}: 'x' has shape {shape}; expected {EXPECTED}")
        if not (dtype == np.uint8 or (np.issubdtype(dtype, np.floating) and dtype.itemsize <= MAX_ITEMSIZE)):
            raise DatasetError(f"{name}: 'x' has dtype {dtype}; expected {EXPECTED}")
    declared = math.prod(shape) * dtype.itemsize
    if declared > max_bytes or (key == "y" and math.prod(shape) > max_images):
        raise DatasetError(f"{name}: {key!r} has shape {shape} ({declared / 2**20:,.0f} MB), over {limit}; "
                           "nothing was loaded")
    if info.file_size > max_bytes + MAX_HEADER_BYTES + 128:
        raise DatasetError(f"{name}: {key!r} would decompress to {info.file_size / 2**20:,.0f} MB, over {limit}; "
                           "nothing was loaded")
    if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise DatasetError(f"{name}: {key!r} expands {info.file_size / max(info.compress_size, 1):,.0f} times "
                           "(a zip bomb?); nothing was loaded")
