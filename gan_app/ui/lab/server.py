"""The latent lab drawn on the server: for a tab that asks for it, or a model the browser cannot
rebuild. Every slider move reruns the page and calls the generator here, so this path is for
one student at a time, not a class (the browser lab is: gan_app/ui/lab/web)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from gan_app.lab.model import LabGenerator
from gan_app.core.latent import grid_latents
from gan_app.ui.common import get_trainer
from gan_app.ui.lab.draw import point_choice
from gan_app.ui.lab.state import POINT, POINT_VERSION, take
from gan_app.ui.lab.tools import between_points, class_slider, d_verdict, digit_tools, direction_sliders, png, raw_sliders
from gan_app.ui.pick import pick_image


def _new_seed() -> None:
    st.session_state.pop(POINT, None)
    st.session_state[POINT_VERSION] = int(st.session_state.get(POINT_VERSION, 0)) + 1


def _reroll() -> None:
    st.session_state["lab_seed"] = int(st.session_state.get("lab_seed", 0)) + 1
    _new_seed()


def base_latent(model: LabGenerator, is_live: bool) -> np.ndarray:
    """The explorer's point before the tools move it: the seed's z, or the sample last clicked."""
    cols = st.columns([2, 1, 3])
    cols[1].button("Re-roll", key="lab_reroll", on_click=_reroll)
    seed = cols[0].number_input("Seed of z", 0, 2**31 - 1, key="lab_seed", on_change=_new_seed)
    point = st.session_state.get(POINT)
    if point is not None and len(point[0]) == model.latent_dim:
        cols[2].caption(f"Exploring {point[1]} (a new seed starts again from the seed's z).")
        z = point[0]
    else:
        z = model.noise(1, int(seed))[0]
    with st.expander("Pick a sample to explore (click it)", expanded=False):
        if is_live:
            c = get_trainer().snapshot().config
            zs, digits = grid_latents(c.preset_obj(), c.seed)
            where, what = "the live grid", "The live grid's fixed noise batch, drawn by the weights in use"
        else:
            zs = model.noise(5 * (model.num_classes or 5), int(seed) + 1)
            digits = np.arange(len(zs)) % model.num_classes if model.num_classes else None
            where, what = "the sample grid", f"Samples from seed {int(seed) + 1}"
        columns = model.num_classes or 5
        picked = pick_image(png(model, zs, "grid", digits), 5, columns, key="lab_pick_grid", width=420,
                            caption=what + (", a column per digit" if model.num_classes else ""))
        if picked is not None:
            take(zs[picked], None if digits is None else int(digits[picked]), f"sample {picked + 1} of {where}")
    return z.astype(np.float32)


def digit_selector(model: LabGenerator) -> int | None:
    if not model.num_classes:
        return None
    st.session_state.setdefault("lab_digit", 7)
    return int(st.radio("Digit to draw (every tool draws it)", list(range(model.num_classes)), horizontal=True,
                        key="lab_digit"))


def render_on_server(model: LabGenerator, is_live: bool) -> None:
    """Every tool, drawn here."""
    z = base_latent(model, is_live)
    digit = digit_selector(model)
    explore, tools = st.columns([2, 3], gap="large")
    with tools:
        names = ["Raw dimensions", "SeFa", "PCA (GANSpace)", "Digits" if model.num_classes else "Towards a digit"]
        tab_raw, tab_sefa, tab_pca, tab_digit = st.tabs(names)
        with tab_raw:
            z = raw_sliders(model, z)
        with tab_sefa:
            offset = direction_sliders(model, z, "SeFa", digit, take)
        with tab_pca:
            offset = offset + direction_sliders(model, z, "PCA", digit, take)
        with tab_digit:
            if model.num_classes:
                digit_tools(model, z + offset, digit, take)
            else:
                offset = offset + class_slider(model, z, take)
    z_final = (z + offset).astype(np.float32)
    with explore:
        asked = f", digit {digit}" if digit is not None else ""
        st.image(png(model, z_final[None], "single", digit), width="stretch",
                 caption=f"{model.name}{asked}: |z| = {np.linalg.norm(z_final):.2f} "
                         f"(typical {model.sigma * np.sqrt(model.latent_dim):.1f})")
        d_verdict(model, z_final, digit)
    between_points(model, z_final, digit, take, lambda: point_choice(model, lambda seed: model.noise(1, seed)[0]))
