"""The latent lab: steer a generator (the live run's, a shipped one or an opened model) with
sliders, directions, interpolation, walks and analogies; for a conditional generator, choose the
digit too. Clicking a sample (of the live grid or of any strip here) makes it the explorer's
point. The maths lives in gan_app.latent and gan_app.lab; the tools in lab_tools."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from gan_app.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT
from gan_app.lab import GeneratorWeights, LabGenerator
from gan_app.latent import grid_latents
from gan_app.ui.common import get_trainer
from gan_app.ui.lab_draw import point_choice, your_digit
from gan_app.ui.lab_tools import (
    DIRECTION_KEYS,
    between_points,
    class_slider,
    d_verdict,
    digit_tools,
    direction_sliders,
    png,
    raw_sliders,
)
from gan_app.ui.models_page import MODEL_KEY, open_from_disk
from gan_app.ui.pick import pick_image

# The latest copy of the live generator's weights, one for every session (not one per student).
_live_weights: list[GeneratorWeights | None] = [None]
PENDING = "lab_pending"  # a clicked sample, applied at the top of the next page run (before any widget)
POINT = "lab_point"  # (z, where it came from) when the explorer's point was clicked, else it is the seed's
SHIPPED = {"mnist5k-wide (shipped)": SHIPPED_EXPORT,
           "mnist5k-conditional (shipped, choose the digit)": SHIPPED_CONDITIONAL}


def page() -> Any:
    return st.Page(render, title="Latent lab", icon=":material/tune:", url_path="lab")


def explore_live_sample(run_id: int, index: int) -> None:
    """From the Train page: sample `index` of the live grid becomes the lab's point, and the lab opens."""
    st.session_state[PENDING] = ("live", run_id, index)
    st.switch_page(page())


def take(z: np.ndarray, digit: int | None, where: str) -> None:
    """A clicked latent (and digit) becomes the explorer's point: one more page run draws it."""
    st.session_state[PENDING] = ("point", np.asarray(z, np.float32).tolist(), digit, where)
    st.rerun()


def _apply_pending() -> None:
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
    st.session_state[POINT] = (np.asarray(z, np.float32), where)
    st.session_state["lab_z_version"] = int(st.session_state.get("lab_z_version", 0)) + 1
    if digit is not None:
        st.session_state["lab_digit"] = digit
    for key in DIRECTION_KEYS:  # the clicked image is the new point: directions start from 0 again
        st.session_state.pop(key, None)


def _opened_model() -> LabGenerator | None:
    """A shipped model, or the one this session opened on the Models page (shown when it was
    opened there since the lab last looked)."""
    opened = st.session_state.get(MODEL_KEY)
    choices: dict[str, Any] = dict(SHIPPED)
    if opened is not None and opened.name not in {path.name for path in SHIPPED.values()}:
        choices[f"{opened.name} (opened on the Models page)"] = None
    if opened is not None and st.session_state.get("lab_seen_model") != id(opened):
        st.session_state["lab_seen_model"] = id(opened)
        st.session_state["lab_model"] = next(label for label, path in choices.items()
                                             if path is None or path.name == opened.name)
    if st.session_state.get("lab_model") not in choices:
        st.session_state["lab_model"] = next(iter(choices))
    path = choices[st.selectbox("Model", list(choices), key="lab_model", help="Open others on the Models page.")]
    if path is not None and (opened is None or opened.name != path.name):
        if not path.is_dir() or not open_from_disk(path):
            st.info("Open a model on the **Models** page first.")
            return None
        st.session_state["lab_seen_model"] = id(st.session_state[MODEL_KEY])
    export = st.session_state[MODEL_KEY]
    saved_d = "with its discriminator" if export.discriminator is not None else "no discriminator saved"
    st.caption(f"Using {export.name} ({export.meta.get('steps', '?'):,} steps, {saved_d}).")
    return _export_generator(f"{export.name}:{id(export)}", export)


@st.cache_resource(max_entries=4, show_spinner="Preparing the generator...")
def _live_generator(key: str, _weights) -> LabGenerator:
    return LabGenerator.from_live(_weights)


@st.cache_resource(max_entries=8, show_spinner=False)
def _export_generator(key: str, _export) -> LabGenerator:
    return LabGenerator.from_export(_export)


def choose_generator() -> tuple[LabGenerator | None, bool]:
    """(generator, is_live). The live one is a weights snapshot (G's and D's) labelled with its step."""
    if "lab_source" not in st.session_state:  # before any training, start on the shipped model
        st.session_state["lab_source"] = "Live run" if get_trainer().snapshot().step else "Opened model"
    source = st.radio("Generator", ["Live run", "Opened model"], horizontal=True, key="lab_source",
                      help="Opened model: a shipped generator or one opened on the Models page.")
    if source == "Opened model":
        return _opened_model(), False
    trainer = get_trainer()
    snap = trainer.snapshot()
    if snap.step == 0:
        st.info("The live run has not trained yet: press Start on the Train page, or open a model.")
        return None, True
    weights = _live_weights[0]
    auto = st.number_input("Refresh from the live run every N steps (0: only on request)", 0, 100_000, 500, key="lab_auto")
    stale = (weights is None or weights.run_id != snap.run_id or weights.version > snap.weights_version
             or (auto and snap.step - weights.step >= auto))
    if st.button("Refresh from the live run", key="lab_refresh") or stale:
        weights = _live_weights[0] = trainer.copy_generator()
    if weights is None:
        return None, True
    st.caption(f"Using the live generator's and discriminator's weights at step {weights.step:,} "
               "(the run keeps training).")
    return _live_generator(f"{weights.run_id}:{weights.version}", weights), True


def _new_seed() -> None:
    st.session_state.pop(POINT, None)
    st.session_state["lab_z_version"] = int(st.session_state.get("lab_z_version", 0)) + 1


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


def render() -> None:
    _apply_pending()
    st.title("Latent lab")
    st.caption("Steer the generator: every image here comes from a latent vector z you choose. "
               "Click any sample on this page (or on the Train page's live grid) to explore it.")
    model, is_live = choose_generator()
    if model is None:
        return
    z = base_latent(model, is_live)
    digit = digit_selector(model)
    with st.expander("Your own digit: draw one (or upload it), see what the classifier and D make of it, "
                     "and find it in latent space", expanded=bool(st.session_state.get("lab_found"))):
        your_digit(model, take)
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
