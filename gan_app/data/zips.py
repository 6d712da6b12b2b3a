"""Datasets people bring as a .zip of PNG or JPEG images (any size or colour), converted the way
the training digits look (gan_app.data.drawing: 28x28, white on black, scaled and centred like MNIST).
Optional labels: when every image sits in a folder named 0-9, the folder is its digit.

The archive is checked before anything is decompressed: its own size, each entry's name (no
absolute paths, no `..`: nothing may leave the target folder), the number of entries, the total
decompressed size the central directory declares and each entry's compression ratio (a zip
bomb). Entries are then read in memory, each capped at its declared size, so a lying central
directory cannot write past the limits either. Nothing is written here: callers write the
converted set atomically, or not at all."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from gan_app.data.drawing import decode, to_mnist
from gan_app.core.errors import DatasetError, ImageInputError

MAX_ZIP_MB = 50  # the archive itself (the dashboard's upload limit too)
MAX_IMAGES = 20_000
MAX_TOTAL_MB = 300  # decompressed, as the central directory declares it
MAX_ENTRY_MB = 20
MAX_RATIO = 200  # decompressed / compressed for one entry: beyond it, a zip bomb
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LIMITS = (f"at most {MAX_ZIP_MB} MB zipped, {MAX_IMAGES:,} images, {MAX_TOTAL_MB} MB decompressed, "
          f"{MAX_ENTRY_MB} MB per image")


@dataclass(frozen=True)
class ZipImages:
    name: str
    x: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1]
    y: np.ndarray | None  # digits from folders 0-9, when every image has one
    skipped: dict[str, int]  # why entries were left out -> how many


def _check_name(name: str, archive: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DatasetError(f"{archive}: entry {name!r} tries to leave the target folder; nothing was added")
    return path


def _label(path: PurePosixPath) -> int | None:
    folder = path.parent.name
    return int(folder) if len(folder) == 1 and folder.isdigit() else None


def read_zip(source: Path | bytes, name: str, min_images: int = 64) -> ZipImages:
    """The converted images of a zip archive (and labels from folders 0-9 when every image has one)."""
    size = len(source) if isinstance(source, bytes) else (source.stat().st_size if source.is_file() else -1)
    if size < 0:
        raise DatasetError(f"dataset file {name!r} not found")
    if size > MAX_ZIP_MB * 1024 * 1024:
        raise DatasetError(f"{name} is {size / 2**20:.0f} MB, over the {MAX_ZIP_MB} MB limit ({LIMITS})")
    raw = source if isinstance(source, bytes) else source.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise DatasetError(f"{name} is not a zip archive; expected a .zip of PNG or JPEG images, or an .npz")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DatasetError(f"{name} is a damaged zip archive; nothing was added") from None
    files = [(info, _check_name(info.filename, name)) for info in infos if not info.is_dir()]
    total = sum(info.file_size for info, _ in files)
    if total > MAX_TOTAL_MB * 1024 * 1024:
        raise DatasetError(f"{name} would decompress to {total / 2**20:.0f} MB, over the {MAX_TOTAL_MB} MB limit "
                           f"({LIMITS})")
    for info, _ in files:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise DatasetError(f"{name}: entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}"
                               f" times (a zip bomb?); nothing was added")
    skipped: dict[str, int] = {}
    images = [(info, path) for info, path in files
              if not (path.name.startswith(".") or "__MACOSX" in path.parts)]
    skipped_hidden = len(files) - len(images)
    if skipped_hidden:
        skipped["hidden or system files"] = skipped_hidden
    candidates = [(info, path) for info, path in images if path.suffix.lower() in IMAGE_SUFFIXES]
    if len(images) > len(candidates):
        skipped["not PNG or JPEG"] = len(images) - len(candidates)
    if len(candidates) > MAX_IMAGES:
        raise DatasetError(f"{name} holds {len(candidates):,} images, over the {MAX_IMAGES:,} limit ({LIMITS})")
    x, labels = [], []
    for info, path in candidates:
        if info.file_size > MAX_ENTRY_MB * 1024 * 1024:
            skipped["over the size limit"] = skipped.get("over the size limit", 0) + 1
            continue
        try:
            with archive.open(info) as f:
                data = f.read(info.file_size + 1)
            if len(data) > info.file_size:
                raise DatasetError(f"{name}: entry {info.filename!r} is larger than the archive declares; "
                                   "nothing was added")
            x.append(to_mnist(decode(data, path.name), path.name))
            labels.append(_label(path))
        except ImageInputError:
            skipped["unreadable or empty images"] = skipped.get("unreadable or empty images", 0) + 1
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):  # CRC errors, encrypted entries
            skipped["damaged entries"] = skipped.get("damaged entries", 0) + 1
    why = ", ".join(f"{n} {reason}" for reason, n in skipped.items())
    if not x:
        raise DatasetError(f"{name} has no readable PNG or JPEG images" + (f" ({why} skipped)" if why else ""))
    if len(x) < min_images:
        raise DatasetError(f"{name} has {len(x)} usable images, fewer than one batch ({min_images}); "
                           "add more images or lower the batch size")
    y = np.asarray(labels, np.int64) if all(label is not None for label in labels) else None
    return ZipImages(Path(name).stem or "uploaded", np.stack(x).astype(np.float32), y, skipped)


def to_npz_bytes(x01: np.ndarray, y: np.ndarray | None, digits: bool) -> bytes:
    """Images as the .npz the CLI and the dashboard read: x uint8 (N, 28, 28), y, and `digits`
    (labelled handwritten digits: the quality metrics apply)."""
    buf = io.BytesIO()
    arrays = {"x": np.round(np.asarray(x01).reshape(-1, 28, 28) * 255).astype(np.uint8), "digits": np.array(digits)}
    if y is not None:
        arrays["y"] = y
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
