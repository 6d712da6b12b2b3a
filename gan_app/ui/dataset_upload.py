"""The teacher's own images as a dataset: a .zip of PNG or JPEG images (or an .npz as the CLI
reads), checked and converted, previewed, and saved under checkpoints/datasets/ so it appears in
the Dataset choice for the next Reset. The current run is never touched."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from gan_app.data import DATASETS, load_npz
from gan_app.data_zip import LIMITS, MAX_ZIP_MB, read_zip, to_npz_bytes
from gan_app.errors import GanAppError
from gan_app.files import atomic_write_bytes
from gan_app.images import grid_png
from gan_app.ui.common import checkpoints_root

UPLOADED = "datasets"  # under checkpoints/


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
            ds = load_npz(path)
        # labelled digits only where the .npz says so (its `digits` flag), as the CLI reads it
        x, y, skipped, digits = ds.x, ds.y, {}, ds.is_digits
        if len(x) < min_images:
            raise GanAppError(f"{name} has {len(x)} images, fewer than one batch ({min_images})")
    else:
        found = read_zip(data, name, min_images)
        x, y, skipped, digits = found.x, found.y, found.skipped, found.y is not None
    return to_npz_bytes(x, y, digits), len(x), digits, skipped, grid_png(x[:25], scale=2)


def add_dataset(locked: bool, batch_size: int) -> None:
    """The upload form (presenter only when the lock is on)."""
    with st.expander("Add your own images as a dataset"):
        st.caption(f"A .zip of PNG or JPEG images of any size or colour ({LIMITS}), or an .npz as the CLI "
                   "reads. Images become 28x28 white-on-black digits like MNIST; folders named 0-9 inside the "
                   "zip label them (then sample quality is measured, otherwise it is not available).")
        upload = st.file_uploader("Images (.zip) or an .npz", type=["zip", "npz"], key="dataset_upload", disabled=locked,
                                  max_upload_size=MAX_ZIP_MB)
        if upload is None:
            return
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(upload.name).stem)[:40] or "uploaded"
        try:
            npz, count, digits, skipped, preview = _convert(upload.name, upload.getvalue(), batch_size)
        except GanAppError as exc:
            st.error(f"{upload.name} was not added: {exc}")
            return
        target = checkpoints_root() / UPLOADED / f"{stem}.npz"
        done = st.session_state.get("dataset_added") == (upload.file_id, str(target))
        st.image(preview, caption=f"{count:,} images as the GAN will see them" +
                 (", labelled 0-9 by their folders" if digits else ", no digit labels"), width=260)
        if skipped:
            st.caption("Skipped: " + ", ".join(f"{n} {why}" for why, n in skipped.items()) + ".")
        if done:
            st.success(f"Added as {dataset_label(str(target))}: choose it under Dataset, then Apply settings and Reset.")
        elif st.button(f"Add {stem} to the datasets", key="dataset_add", disabled=locked):
            atomic_write_bytes(target, npz)  # whole or not at all
            st.session_state["dataset_added"] = (upload.file_id, str(target))
            st.rerun()
