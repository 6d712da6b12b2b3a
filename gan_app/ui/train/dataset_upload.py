"""The teacher's own images as a dataset: a .zip of PNG or JPEG images (or an .npz as the CLI
reads), checked and converted, previewed, and saved under checkpoints/datasets/ so it appears in
the Dataset choice for the next Reset. The current run is never touched.

Both kinds are bounded before anything is unpacked (gan_app.data.zips, gan_app.data.npz: at most
20,000 images). A file is converted once: the result (or the reason it was refused) is kept by
the file's content hash, so the page's reruns while it sits in the uploader cost nothing."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from gan_app.data.datasets import DATASETS, load_npz
from gan_app.data.npz import UPLOAD_NPZ_IMAGES
from gan_app.data.zips import LIMITS, MAX_ZIP_MB, read_zip, to_npz_bytes
from gan_app.core.errors import GanAppError
from gan_app.core.files import atomic_write_bytes
from gan_app.core.images import grid_png
from gan_app.classroom.room import checkpoints_root
from gan_app.ui.common import can_control, run_control

UPLOADED = "datasets"  # under checkpoints/
DIGEST_KEY = "dataset_upload_digest"  # session_state: (file_id, sha256) of the file in the uploader


def uploaded_datasets() -> list[str]:
    folder = checkpoints_root() / UPLOADED
    return sorted(str(p) for p in folder.glob("*.npz")) if folder.is_dir() else []


def dataset_options() -> list[str]:
    return list(DATASETS) + uploaded_datasets()


def dataset_label(name: str) -> str:
    return f"{Path(name).stem} (uploaded)" if name.endswith(".npz") else name


def _convert(name: str, data: bytes, min_images: int) -> tuple[bytes, int, bool, dict[str, int], bytes]:
    """(npz bytes, images, labelled digits?, skipped, preview PNG); DatasetError with one line otherwise."""
    if name.lower().endswith(".npz"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            ds = load_npz(path, max_images=UPLOAD_NPZ_IMAGES)
        # labelled digits only where the .npz says so (its `digits` flag), as the CLI reads it
        x, y, skipped, digits = ds.x, ds.y, {}, ds.is_digits
        if len(x) < min_images:
            raise GanAppError(f"{name} has {len(x)} images, fewer than one batch ({min_images})")
    else:
        found = read_zip(data, name, min_images)
        x, y, skipped, digits = found.x, found.y, found.skipped, found.y is not None
    return to_npz_bytes(x, y, digits), len(x), digits, skipped, grid_png(x[:25], scale=2)


@dataclass(frozen=True)
class Converted:
    """_convert's result, or the one line saying why the file was refused."""

    npz: bytes = b""
    count: int = 0
    digits: bool = False
    skipped: tuple[tuple[str, int], ...] = ()
    preview: bytes = b""
    error: str = ""


@st.cache_data(show_spinner="Checking and converting the images...", max_entries=4)
def _convert_once(name: str, digest: str, min_images: int, _data: bytes) -> Converted:
    """_convert, once per file content (`digest`, the sha256 of `_data`), name and batch size."""
    try:
        npz, count, digits, skipped, preview = _convert(name, _data, min_images)
    except GanAppError as exc:
        return Converted(error=str(exc))
    return Converted(npz, count, digits, tuple(skipped.items()), preview)


def convert_upload(name: str, data: bytes, min_images: int, digest: str | None = None) -> Converted:
    """The converted upload, computed once per file content (`digest`: its sha256, if known)."""
    return _convert_once(name, digest or hashlib.sha256(data).hexdigest(), min_images, data)


def _digest(upload) -> str:
    """The sha256 of an uploaded file, hashed once per upload of this session."""
    memo = st.session_state.get(DIGEST_KEY)
    if not memo or memo[0] != upload.file_id:
        memo = (upload.file_id, hashlib.sha256(upload.getvalue()).hexdigest())
        st.session_state[DIGEST_KEY] = memo
    return memo[1]


def add_dataset(batch_size: int) -> None:
    """The upload form, the presenter's only when the lock is on: a viewer's tab is not even
    given the uploader, so a file a script posts for it is never read, and the Add handler
    checks again. A dataset of the same name is replaced only when the presenter ticks so."""
    with st.expander("Add your own images as a dataset"):
        st.caption(f"A .zip of PNG or JPEG images of any size or colour ({LIMITS}), or an .npz as the CLI "
                   f"reads (at most {UPLOAD_NPZ_IMAGES:,} images). Images become 28x28 white-on-black digits "
                   "like MNIST; folders named 0-9 inside the zip label them (then sample quality is measured, "
                   "otherwise it is not available).")
        if not can_control(st.session_state):
            st.caption("The presenter adds datasets (enter the presenter password in the sidebar).")
            return
        upload = st.file_uploader("Images (.zip) or an .npz", type=["zip", "npz"], key="dataset_upload",
                                  max_upload_size=MAX_ZIP_MB)
        if upload is None:
            return
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(upload.name).stem)[:40] or "uploaded"
        converted = convert_upload(upload.name, upload.getvalue(), batch_size, _digest(upload))
        if converted.error:
            st.error(f"{upload.name} was not added: {converted.error}")
            return
        npz, count, digits, skipped, preview = (converted.npz, converted.count, converted.digits,
                                                dict(converted.skipped), converted.preview)
        target = checkpoints_root() / UPLOADED / f"{stem}.npz"
        done = st.session_state.get("dataset_added") == (upload.file_id, str(target))
        st.image(preview, caption=f"{count:,} images as the GAN will see them" +
                 (", labelled 0-9 by their folders" if digits else ", no digit labels"), width=260)
        if skipped:
            st.caption("Skipped: " + ", ".join(f"{n} {why}" for why, n in skipped.items()) + ".")
        if done:
            st.success(f"Added as {dataset_label(str(target))}: choose it under Dataset, then Apply settings and Reset.")
            return
        replace = False
        if target.exists():
            replace = st.checkbox(f"Replace the dataset {dataset_label(str(target))} that is already there",
                                  key="dataset_replace", help="The next Reset on this dataset trains on the new images.")
        if st.button(f"Add {stem} to the datasets", key="dataset_add", disabled=target.exists() and not replace):
            if run_control(st.session_state, lambda: _save(target, npz, replace)):
                st.session_state["dataset_added"] = (upload.file_id, str(target))
            st.rerun()


def _save(target: Path, npz: bytes, replace: bool) -> None:
    """Write the dataset whole or not at all; a dataset already there only when `replace`."""
    if target.exists() and not replace:
        raise GanAppError(f"{dataset_label(str(target))} is already a dataset: tick \"Replace\" to replace it")
    atomic_write_bytes(target, npz)
