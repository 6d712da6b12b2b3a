"""The latent lab: steer a generator (the live run's or an opened model) with sliders, directions,
interpolation, walks and analogies. The maths lives in gan_app.latent; this page wires widgets."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gan_app import latent
from gan_app.checkpoint import SHIPPED_EXPORT
from gan_app.images import gif_bytes, grid_png, image_png, strip_png
from gan_app.lab import GeneratorWeights, LabGenerator, reference_labeller
from gan_app.latent import fixed_noise
from gan_app.ui.common import get_trainer
from gan_app.ui.models_page import MODEL_KEY, open_from_disk

# The latest copy of the live generator's weights, one for every session (not one per student).
_live_weights: list[GeneratorWeights | None] = [None]
SIGMAS = (-3, -2, -1, 0, 1, 2, 3)
N_DIRECTIONS = 5


@st.cache_resource(max_entries=4, show_spinner="Preparing the generator...")
def _live_generator(key: str, _weights) -> LabGenerator:
    return LabGenerator.from_live(_weights)


@st.cache_resource(max_entries=8, show_spinner=False)
def _export_generator(key: str, _export) -> LabGenerator:
    return LabGenerator.from_export(_export)


@st.cache_resource(show_spinner="Loading the reference classifier...")
def _labeller():
    return reference_labeller()


@st.cache_data(max_entries=512, show_spinner=False)
def _png(version: str, z: bytes, kind: str, _model: LabGenerator) -> bytes:
    """PNG bytes keyed by (weights version, latents, what to draw): never stale after new weights."""
    zs = np.frombuffer(z, np.float32).reshape(-1, _model.latent_dim)
    images = _model.images01(zs)
    if kind == "single":
        return image_png(images[0], scale=10)
    if kind == "grid3":
        return grid_png(images, side=3)
    return strip_png(images, scale=3)


def png(model: LabGenerator, z: np.ndarray, kind: str = "strip") -> bytes:
    return _png(model.version, np.ascontiguousarray(z, np.float32).tobytes(), kind, model)


def choose_generator() -> tuple[LabGenerator | None, bool]:
    """(generator, is_live). The live one is a weights snapshot labelled with its step."""
    if "lab_source" not in st.session_state:  # before any training, start on the shipped model
        st.session_state["lab_source"] = "Live run" if get_trainer().snapshot().step else "Opened model"
    source = st.radio("Generator", ["Live run", "Opened model"], horizontal=True, key="lab_source")
    if source == "Opened model":
        if st.session_state.get(MODEL_KEY) is None and SHIPPED_EXPORT.is_dir():
            open_from_disk(SHIPPED_EXPORT)
        export = st.session_state.get(MODEL_KEY)
        if export is None:
            st.info("Open a model on the **Models** page first.")
            return None, False
        st.caption(f"Using {export.name} ({export.meta.get('steps', '?'):,} steps). Open another on the Models page.")
        if export.num_classes:
            st.info(f"{export.name} draws the digit it is asked for; the latent lab explores unconditional "
                    "generators. Its samples, one column per digit, are on the Models page.")
            return None, False
        return _export_generator(f"{export.name}:{id(export)}", export), False
    trainer = get_trainer()
    snap = trainer.snapshot()
    if snap.config.preset_obj().num_classes:
        st.info("The live run draws the digit it is asked for (a conditional preset); the latent lab explores "
                "unconditional generators. Open an unconditional model, or Reset the run with another preset.")
        return None, True
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
    st.caption(f"Using the live generator's weights at step {weights.step:,} (the run keeps training).")
    return _live_generator(f"{weights.run_id}:{weights.version}", weights), True


def base_latent(model: LabGenerator, is_live: bool) -> np.ndarray:
    cols = st.columns([2, 1, 2])
    if cols[1].button("Re-roll", key="lab_reroll"):
        st.session_state["lab_seed"] = int(st.session_state.get("lab_seed", 0)) + 1
    seed = cols[0].number_input("Seed of z", 0, 2**31 - 1, key="lab_seed")
    z = model.noise(1, int(seed))[0]
    if is_live:
        pick = cols[2].selectbox("...or pick a sample of the live grid", ["none"] + list(range(1, 26)), key="lab_pick",
                                 help="Numbered row by row, 1 at the top left.")
        if pick != "none":
            c = get_trainer().snapshot().config
            z = fixed_noise(c.preset_obj(), c.seed)[int(pick) - 1]
    return z.astype(np.float32)


def raw_sliders(model: LabGenerator, z: np.ndarray) -> np.ndarray:
    dims = st.multiselect("Dimensions of z to drag", list(range(model.latent_dim)), default=list(range(8)),
                          max_selections=16, key="lab_dims")
    lo, hi = model.slider_range
    z = z.copy()
    cols = st.columns(4)
    for i, d in enumerate(dims):
        z[d] = cols[i % 4].slider(f"z[{d}]", lo, hi, float(np.clip(z[d], lo, hi)), 0.05, key=f"lab_dim_{d}_{st.session_state.get('lab_seed', 0)}")
    return z


def direction_sliders(model: LabGenerator, z: np.ndarray, kind: str) -> np.ndarray:
    directions, strength = model.sefa if kind == "SeFa" else model.pca
    label = "eigenvalue" if kind == "SeFa" else "variance"
    offset = np.zeros_like(z)
    for i in range(min(N_DIRECTIONS, len(directions))):
        d = directions[i]
        st.image(png(model, latent.sigma_strip(z, d * model.sigma, SIGMAS)), width="stretch",
                 caption=f"{kind} direction {i + 1} ({label} {strength[i]:.3g}) at -3..+3 sigma")
        alpha = st.slider(f"{kind} {i + 1} (sigma)", -3.0, 3.0, 0.0, 0.1, key=f"lab_{kind}_{i}")
        offset += alpha * model.sigma * d / (np.linalg.norm(d) + 1e-12)
    return offset


def class_slider(model: LabGenerator, z: np.ndarray) -> np.ndarray:
    directions = model.class_directions(_labeller())
    if not directions:
        st.caption("The labeller found no class often enough yet: train longer.")
        return np.zeros_like(z)
    digit = st.selectbox("Towards digit", sorted(directions), key="lab_class")
    amount = st.slider("Strength", 0.0, 3.0, 0.0, 0.1, key="lab_class_amount",
                       help="Adds amount x (mean latent of samples the classifier calls this digit - mean latent)")
    st.image(png(model, np.asarray([z + a * directions[digit] for a in (0, 0.75, 1.5, 2.25, 3.0)])),
             caption=f"towards {digit}: strength 0 .. 3", width="stretch")
    return amount * directions[digit]


def norm_figure(paths: dict[str, np.ndarray], typical: float) -> go.Figure:
    fig = go.Figure()
    for name, path in paths.items():
        fig.add_trace(go.Scatter(y=np.linalg.norm(path, axis=1), mode="lines+markers", name=name))
    fig.add_hline(y=typical, line_dash="dash", annotation_text=f"typical norm {typical:.1f}")
    fig.update_layout(title="Latent norm along the path", xaxis_title="step", yaxis_title="|z|", height=280,
                      margin=dict(l=40, r=10, t=40, b=40))
    return fig


def between_points(model: LabGenerator, z: np.ndarray) -> None:
    st.subheader("Between points")
    cols = st.columns(4)
    seed_b = cols[0].number_input("Seed of B", 0, 2**31 - 1, 7, key="lab_seed_b")
    seed_c = cols[1].number_input("Seed of C (walk, analogy)", 0, 2**31 - 1, 11, key="lab_seed_c")
    method = cols[2].radio("Path", ["slerp", "lerp"], key="lab_method", horizontal=True)
    steps = cols[3].slider("Steps", 3, 16, 10, key="lab_steps")
    b, c = model.noise(1, int(seed_b))[0], model.noise(1, int(seed_c))[0]
    via_c = st.checkbox("Continue on to C", key="lab_via_c")
    path = latent.interpolate([z, b, c] if via_c else [z, b], steps, method)
    st.image(png(model, path), caption=f"{method} from the explorer's point (A) to B" + (" to C" if via_c else ""),
             width="stretch")
    typical = model.sigma * np.sqrt(model.latent_dim)
    st.plotly_chart(norm_figure({"lerp": latent.interpolate([z, b], steps, "lerp"),
                                 "slerp": latent.interpolate([z, b], steps, "slerp")}, typical), key="lab_norms")
    st.caption("Most of a high-dimensional Gaussian lies near the shell |z| = sqrt(d). The straight line between "
               "two points cuts inside it, where the generator rarely saw latents; slerp follows the shell.")
    left, right = st.columns(2)
    with left:
        frames = latent.walk([z, b, c], frames_per_leg=12, method=method)
        st.download_button("Download the walk A -> B -> C -> A (GIF)",
                           lambda: gif_bytes([image_png(img, scale=6) for img in model.images01(frames)], 80),
                           file_name="latent_walk.gif", mime="image/gif", on_click="ignore", key="lab_gif")
    with right:
        st.image(png(model, latent.analogy_grid(z, b, c), "grid3"), width=300,
                 caption="Analogy: A (top left), B (top right), C (bottom left), A - B + C (bottom right)")


def render() -> None:
    st.title("Latent lab")
    st.caption("Steer the generator: every image here comes from a latent vector z you choose.")
    model, is_live = choose_generator()
    if model is None:
        return
    z = base_latent(model, is_live)
    explore, tools = st.columns([2, 3], gap="large")
    with tools:
        tab_raw, tab_sefa, tab_pca, tab_class = st.tabs(["Raw dimensions", "SeFa", "PCA (GANSpace)", "Towards a digit"])
        with tab_raw:
            z = raw_sliders(model, z)
        with tab_sefa:
            offset = direction_sliders(model, z, "SeFa")
        with tab_pca:
            offset = offset + direction_sliders(model, z, "PCA")
        with tab_class:
            offset = offset + class_slider(model, z)
    z_final = (z + offset).astype(np.float32)
    with explore:
        st.image(png(model, z_final[None], "single"), width="stretch",
                 caption=f"{model.name}: |z| = {np.linalg.norm(z_final):.2f} (typical {model.sigma * np.sqrt(model.latent_dim):.1f})")
    between_points(model, z_final)
