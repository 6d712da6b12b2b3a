"""The latent lab's per-tab point: a clicked sample (on the Train page's live grid, or a
drawing found in latent space) becomes the explorer's point at the top of the next page run,
whether the lab draws in the browser or on the server."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from gan_app.core.latent import grid_latents
from gan_app.ui.common import get_trainer

PENDING = "lab_pending"  # a clicked sample, applied at the top of the next page run (before any widget)
POINT = "lab_point"  # (z, where it came from) when the explorer's point was clicked, else it is the seed's
POINT_VERSION = "lab_z_version"  # counts new points: the browser lab applies each once
DIRECTION_KEYS = tuple(f"lab_{kind}_{i}" for kind in ("SeFa", "PCA") for i in range(5)) + ("lab_class_amount",)


def ask_for_live_sample(run_id: int, index: int) -> None:
    """Sample `index` of the live grid becomes the lab's point when the lab page next runs."""
    st.session_state[PENDING] = ("live", run_id, index)


def take(z: np.ndarray, digit: int | None, where: str) -> None:
    """A clicked latent (and digit) becomes the explorer's point: one more page run draws it."""
    st.session_state[PENDING] = ("point", np.asarray(z, np.float32).tolist(), digit, where)
    st.rerun()


def apply_pending() -> None:
    pending = st.session_state.pop(PENDING, None)
    if pending is None:
        return
    if pending[0] == "live":
        _, run_id, index = pending
        snap = get_trainer().snapshot()
        if snap.run_id != run_id:
            st.toast("That grid belongs to a run that was Reset since.")
            return
        st.session_state["lab_source"] = "Live run"
        z, digits = grid_latents(snap.config.preset_obj(), snap.config.seed)
        index = min(max(int(index), 0), len(z) - 1)
        pending = ("point", z[index].tolist(), None if digits is None else int(digits[index]),
                   f"sample {index + 1} of the live grid")
    _, z, digit, where = pending
    st.session_state[POINT] = (np.asarray(z, np.float32), where, digit)
    st.session_state[POINT_VERSION] = int(st.session_state.get(POINT_VERSION, 0)) + 1
    if digit is not None:
        st.session_state["lab_digit"] = digit
    for key in DIRECTION_KEYS:  # the clicked image is the new point: directions start from 0 again
        st.session_state.pop(key, None)


def point_for_browser() -> dict[str, Any] | None:
    """The newest clicked point for the browser lab (it applies each `n` once), or None."""
    point = st.session_state.get(POINT)
    if point is None:
        return None
    z, where, digit = point
    return {"n": int(st.session_state.get(POINT_VERSION, 0)), "z": np.asarray(z, np.float32).tolist(),
            "digit": digit, "where": where}
