"""Open a trained generator (an export on disk, or an upload) without touching the live run."""

from __future__ import annotations

import streamlit as st

from gan_app.checkpoint import (
    MAX_UPLOAD_MB,
    SHIPPED_EXPORT,
    CheckpointError,
    Export,
    list_exports,
    open_export,
    open_upload,
)
from gan_app.images import grid_png
from gan_app.ui.common import checkpoints_root

MODEL_KEY = "opened_model"  # session_state: the Export this session explores


@st.cache_resource(show_spinner="Loading the generator...", max_entries=8)
def _cached_export(path: str, mtime: float) -> Export:
    from pathlib import Path

    return open_export(Path(path))


def open_from_disk(path) -> bool:
    try:
        st.session_state[MODEL_KEY] = _cached_export(str(path), (path / "generator.keras").stat().st_mtime)
        return True
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not open {path.name}: {exc}")
        return False


def render() -> None:
    st.title("Models: open a trained generator")
    st.caption("Opening a model never touches the live training run. The latent lab explores the model opened here.")
    exports = sorted(set(list_exports(checkpoints_root()) + list_exports(SHIPPED_EXPORT.parent)))
    left, right = st.columns(2)
    with left:
        st.subheader("Saved on this server")
        if exports:
            choice = st.selectbox("Export", exports, format_func=lambda p: p.name, key="export_choice")
            if st.button("Open", key="open_export"):
                open_from_disk(choice)
        else:
            st.caption("No exports yet. Export one from the Train page, or train one with the CLI.")
    with right:
        st.subheader("Upload")
        st.caption(f"generator.keras and its meta.json, at most {MAX_UPLOAD_MB} MB each. Models with Lambda "
                   "layers (arbitrary code) are refused.")
        gen = st.file_uploader("generator.keras", type=["keras"], key="upload_generator")
        meta = st.file_uploader("meta.json", type=["json"], key="upload_meta")
        if st.button("Open upload", disabled=not (gen and meta), key="open_upload"):
            try:
                st.session_state[MODEL_KEY] = open_upload(gen.getvalue(), meta.getvalue(), gen.name)
            except CheckpointError as exc:
                st.error(f"Could not open the upload: {exc}")
    model: Export | None = st.session_state.get(MODEL_KEY)
    if model is None:
        return
    st.divider()
    st.subheader(f"Opened: {model.name}")
    meta = model.meta
    cols = st.columns(4)
    cols[0].metric("Preset", str(meta.get("preset", "?")))
    cols[1].metric("Trained steps", f"{meta.get('steps', 0):,}")
    q = meta.get("quality") or {}
    cols[2].metric("Classifier FID", f"{q['fid']:.1f}" if "fid" in q else "n/a")
    cols[3].metric("Digits covered", f"{q['covered']} of 10" if "covered" in q else "n/a")
    seed = st.number_input("Sample seed", 0, 2**31 - 1, 0, key="models_seed")
    st.image(grid_png(model.images01(model.noise(25, int(seed)))), width=480, caption="25 samples")
    if meta.get("command"):
        st.caption(f"Made by: `{meta['command']}`")
