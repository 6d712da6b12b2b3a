"""Datasets: the offline MNIST sample shipped in the package, Keras' downloadable sets, any
local .npz with 28x28 images (bounded before it is unpacked: gan_app.data.npz), and a .zip of
PNG or JPEG images (gan_app.data.zips).

Every loader returns images as float32 (N, 28, 28, 1) in [0, 1] plus labels or None;
`scale_to_range` maps them to a preset's output range. Failures raise DatasetError with a
message for a person (what was wrong, what is accepted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_app.data.npz import EXPECTED, MAX_NPZ_IMAGES, check_npz
from gan_app.data.zips import read_zip
from gan_app.core.errors import DatasetError

DEFAULT_DATASET = "mnist5k"
BUILTIN_PATH = Path(__file__).parent / "mnist_5k.npz"  # shipped beside this module
DOWNLOADABLE = ("mnist", "fashion_mnist")
DATASETS = (DEFAULT_DATASET,) + DOWNLOADABLE
DIGIT_DATASETS = (DEFAULT_DATASET, "mnist")  # labelled 28x28 digits: where the quality metrics apply
# Setting GAN_APP_OFFLINE=1 forbids downloads: only what is already in Keras' cache loads.
OFFLINE_ENV = "GAN_APP_OFFLINE"
_KERAS_CACHE_FILES = {
    "mnist": ["mnist.npz"],
    "fashion_mnist": [
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
    ],
}


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1]
    y: np.ndarray | None  # int labels (N,) or None
    is_digits: bool  # 28x28 handwritten digits with labels (quality metrics apply)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def load_dataset(name: str) -> Dataset:
    """`mnist5k` (offline default), `mnist`, `fashion_mnist`, or a path to a local .npz or .zip."""
    if name == DEFAULT_DATASET:
        ds = load_npz(BUILTIN_PATH)
        return Dataset(DEFAULT_DATASET, ds.x, ds.y, is_digits=True)
    if name in DOWNLOADABLE:
        return _load_keras(name)
    if name.lower().endswith(".zip"):
        return load_zip(Path(name))
    if name.endswith(".npz") or os.path.sep in name:
        return load_npz(Path(name))
    raise DatasetError(
        f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}, or a path to an .npz or .zip file"
    )


def load_zip(path: Path, min_images: int = 1) -> Dataset:
    """A .zip of PNG or JPEG images, converted like MNIST; labelled digits when every image sits
    in a folder named 0-9."""
    found = read_zip(path, path.name, min_images)
    return Dataset(found.name, found.x, found.y, is_digits=found.y is not None)


def load_npz(path: Path, max_images: int = MAX_NPZ_IMAGES) -> Dataset:
    """An .npz checked from its headers first (gan_app.data.npz: at most `max_images` images,
    nothing unpacked beyond what that needs), then loaded without pickles."""
    expected = EXPECTED
    if not path.is_file():
        raise DatasetError(f"dataset file {str(path)!r} not found; expected {expected}")
    check_npz(path, max_images)
    try:
        with np.load(path, allow_pickle=False) as f:
            files = set(f.files)
            if "x" not in files:
                raise DatasetError(f"{path.name} has keys {sorted(files)}, no 'x'; expected {expected}")
            x = f["x"]
            y = f["y"] if "y" in files else None
            digits = bool(f["digits"]) if "digits" in files and f["digits"].shape == () else False
    except DatasetError:
        raise
    except Exception as exc:  # zip errors, pickled objects, truncated files
        raise DatasetError(f"{path.name} is not a readable .npz ({type(exc).__name__}); expected {expected}") from None
    labels = _labels(y, len(x), path.name)
    # `digits`: labelled handwritten digits (an upload with folders 0-9), where quality metrics apply
    return Dataset(path.stem, _images(x, path.name, expected), labels, is_digits=digits and labels is not None)


def _images(x: np.ndarray, source: str, expected: str) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.shape[0] == 0:
        raise DatasetError(f"{source}: 'x' has shape {x.shape}; expected {expected}")
    if x.dtype == np.uint8:
        out = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        out = x.astype(np.float32)
        if not np.isfinite(out).all():
            raise DatasetError(f"{source}: 'x' contains NaN or Inf; expected {expected}")
        lo, hi = float(out.min()), float(out.max())
        if lo < 0.0 or hi > 255.0:
            raise DatasetError(f"{source}: 'x' values span [{lo:g}, {hi:g}]; expected {expected}")
        if hi > 1.0:  # floats holding 0-255 pixel values
            out /= 255.0
    else:
        raise DatasetError(f"{source}: 'x' has dtype {x.dtype}; expected {expected}")
    return out[..., None]


def _labels(y: np.ndarray | None, n: int, source: str) -> np.ndarray | None:
    if y is None:
        return None
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{source}: 'y' has shape {y.shape} and dtype {y.dtype}; expected integer labels of shape ({n},)")
    return y.astype(np.int64)


def _load_keras(name: str) -> Dataset:
    offline_hint = f"use --dataset {DEFAULT_DATASET}, the offline MNIST sample shipped with the app"
    if os.environ.get(OFFLINE_ENV) == "1":
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
        if not all((cache / f).is_file() for f in _KERAS_CACHE_FILES[name]):
            raise DatasetError(f"dataset {name!r} is not downloaded yet and downloads are off ({OFFLINE_ENV}=1); {offline_hint}")
    try:
        import keras

        module = getattr(keras.datasets, name)
        (x, y), _ = module.load_data()
    except Exception as exc:
        raise DatasetError(f"could not download dataset {name!r} ({type(exc).__name__}: no network?); {offline_hint}") from None
    return Dataset(name, x.astype(np.float32)[..., None] / 255.0, y.astype(np.int64), is_digits=name in DIGIT_DATASETS)


def scale_to_range(x01: np.ndarray, out_min: float, out_max: float) -> np.ndarray:
    """Map images in [0, 1] to a generator's output range ([-1, 1] for tanh, [0, 1] for sigmoid)."""
    return (x01 * (out_max - out_min) + out_min).astype(np.float32)


def to_unit_range(images: np.ndarray, out_min: float, out_max: float) -> np.ndarray:
    """Inverse of scale_to_range, clipped: generator output back to [0, 1] for display."""
    return np.clip((np.asarray(images, np.float32) - out_min) / (out_max - out_min), 0.0, 1.0)
