"""Open a trained generator (an export on disk, or an upload) without touching the live run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from gan_app.runs.checkpoint import (
    MAX_UPLOAD_MB,
    SHIPPED_EXPORT,
    CheckpointError,
    Export,
    has_checkpoint,
    list_exports,
    open_export,
    open_upload,
)
from gan_app.core.images import grid_png
from gan_app.runs.lock import check_free
from gan_app.classroom.room import checkpoints_root
from gan_app.ui.common import can_control, get_trainer, run_control, show_notice

MODEL_KEY = "opened_model"  # session_state: the Export this session explores


@st.cache_resource(show_spinner="Loading the generator...", max_entries=8)
def _cached_export(path: str, mtime: float) -> Export:
    return open_export(Path(path))


def open_from_disk(path) -> bool:
    try:
        st.session_state[MODEL_KEY] = _cached_export(str(path), (path / "generator.keras").stat().st_mtime)
        return True
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not open {path.name}: {exc}")
        return False


def run_dirs() -> list:
    """Run directories under checkpoints/ that keep a training state (CLI runs, the live run)."""
    root = checkpoints_root()
    return sorted(p for p in root.iterdir() if p.is_dir() and has_checkpoint(p)) if root.is_dir() else []


def _continue(run_dir: Path) -> None:
    """Open `run_dir` as the live run; RunLocked (one line) when another process trains it."""
    check_free(run_dir)
    get_trainer().open_run(run_dir)


def continue_live() -> None:
    """Any saved run becomes the live run, paused at its last checkpoint (presenter only)."""
    runs = run_dirs()
    st.subheader("Continue a run live")
    if not runs:
        st.caption("No run with a training state under checkpoints/ yet (train one with the CLI: "
                   "`python -m gan_app train ... --out checkpoints/NAME`).")
        return
    choice = st.selectbox("Run", runs, format_func=lambda p: p.name, key="run_choice",
                          help="A run trained by the CLI or by this dashboard; it continues on the Train page.")
    snap = get_trainer().snapshot()
    st.button("Continue this run live", key="continue_live", disabled=not can_control(st.session_state) or not snap.allows("open_run"),
              on_click=lambda: run_control(st.session_state, lambda: _continue(choice),
                                           f"Opening {choice.name} on the Train page: it shows the run's step and "
                                           "curves, paused; press Resume there."),
              help="Pause or stop the live run first. Its last steps are saved before the switch.")


def render() -> None:
    st.title("Models: open a trained generator")
    st.caption("Opening a model never touches the live training run. The latent lab explores the model opened here.")
    show_notice()
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
    continue_live()
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
    if model.num_classes:  # one column per digit
        n = 5 * model.num_classes
        st.image(grid_png(model.images01(model.noise(n, int(seed))), columns=model.num_classes), width=720,
                 caption=f"{n} samples, a column per digit (0 to {model.num_classes - 1})")
    else:
        st.image(grid_png(model.images01(model.noise(25, int(seed)))), width=480, caption="25 samples")
    if meta.get("command"):
        st.caption(f"Made by: `{meta['command']}`")
