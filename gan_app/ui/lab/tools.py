"""The latent lab's tools, each drawing from a LabGenerator at the explorer's point (and digit):
raw sliders, directions, towards a digit, the digits of a conditional generator, between points,
and D's verdict. Every strip is clickable: `take(z, digit, where)` makes a sample the point."""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gan_app.core import latent
from gan_app.core.images import gif_bytes, grid_png, image_png, strip_png
from gan_app.lab.model import LabGenerator, reference_labeller
from gan_app.ui.pick import pick_image

Take = Callable[[np.ndarray, "int | None", str], None]
SIGMAS = (-3, -2, -1, 0, 1, 2, 3)
N_DIRECTIONS = 5
GALLERY_COLUMNS = 8  # the class's drawings, in rows of this many


@st.cache_resource(show_spinner="Loading the reference classifier...")
def labeller():
    return reference_labeller()


@st.cache_data(max_entries=512, show_spinner=False)
def _png(version: str, z: bytes, digits: bytes, kind: str, _model: LabGenerator) -> bytes:
    """PNG bytes keyed by (weights version, latents, digits, what to draw): never stale after new weights."""
    zs = np.frombuffer(z, np.float32).reshape(-1, _model.latent_dim)
    images = _model.images01(zs, np.frombuffer(digits, np.int32) if digits else None)
    if kind == "single":
        return image_png(images[0], scale=10)
    if kind == "grid3":
        return grid_png(images, side=3)
    if kind == "grid":
        return grid_png(images, scale=3, columns=_model.num_classes or None)
    if kind == "gallery":
        return grid_png(images, scale=3, columns=GALLERY_COLUMNS)
    return strip_png(images, scale=3)


def png(model: LabGenerator, z: np.ndarray, kind: str = "strip", digits: int | np.ndarray | None = None) -> bytes:
    z = np.ascontiguousarray(z, np.float32).reshape(-1, model.latent_dim)
    d = model.digits(len(z), digits).tobytes() if model.num_classes else b""
    return _png(model.version, z.tobytes(), d, kind, model)


def strip(model: LabGenerator, zs: np.ndarray, digit: int | None, key: str, caption: str, take: Take,
          where: str) -> None:
    """A clickable strip of samples at `zs` (one digit for all)."""
    picked = pick_image(png(model, zs, "strip", digit), 1, len(zs), key=key, caption=caption)
    if picked is not None:
        take(zs[picked], digit, f"{where}, sample {picked + 1}")


def raw_sliders(model: LabGenerator, z: np.ndarray) -> np.ndarray:
    dims = st.multiselect("Dimensions of z to drag", list(range(model.latent_dim)), default=list(range(8)),
                          max_selections=16, key="lab_dims")
    lo, hi = model.slider_range
    z = z.copy()
    cols = st.columns(4)
    version = st.session_state.get("lab_z_version", 0)  # a new point: the sliders start from it
    for i, d in enumerate(dims):
        z[d] = cols[i % 4].slider(f"z[{d}]", lo, hi, float(np.clip(z[d], lo, hi)), 0.05, key=f"lab_dim_{d}_{version}")
    return z


def direction_sliders(model: LabGenerator, z: np.ndarray, kind: str, digit: int | None, take: Take) -> np.ndarray:
    directions, strength = model.sefa if kind == "SeFa" else model.pca
    label = "eigenvalue" if kind == "SeFa" else "variance"
    offset = np.zeros_like(z)
    for i in range(min(N_DIRECTIONS, len(directions))):
        d = directions[i]
        strip(model, latent.sigma_strip(z, d * model.sigma, SIGMAS), digit, f"lab_strip_{kind}_{i}",
              f"{kind} direction {i + 1} ({label} {strength[i]:.3g}) at -3..+3 sigma", take,
              f"{kind} direction {i + 1}")
        alpha = st.slider(f"{kind} {i + 1} (sigma)", -3.0, 3.0, 0.0, 0.1, key=f"lab_{kind}_{i}")
        offset += alpha * model.sigma * d / (np.linalg.norm(d) + 1e-12)
    return offset


def class_slider(model: LabGenerator, z: np.ndarray, take: Take) -> np.ndarray:
    directions = model.class_directions(labeller())
    if not directions:
        st.caption("The labeller found no class often enough yet: train longer.")
        return np.zeros_like(z)
    digit = st.selectbox("Towards digit", sorted(directions), key="lab_class")
    amount = st.slider("Strength", 0.0, 3.0, 0.0, 0.1, key="lab_class_amount",
                       help="Adds amount x (mean latent of samples the classifier calls this digit - mean latent)")
    strip(model, np.asarray([z + a * directions[digit] for a in (0, 0.75, 1.5, 2.25, 3.0)]), None,
          "lab_strip_class", f"towards {digit}: strength 0 .. 3", take, f"towards {digit}")
    return amount * directions[digit]


def digit_tools(model: LabGenerator, z: np.ndarray, digit: int, take: Take) -> None:
    """A conditional generator: the explorer's z as every digit, and one digit becoming another."""
    k = model.num_classes
    every = np.repeat(z[None].astype(np.float32), k, axis=0)
    picked = pick_image(png(model, every, "strip", np.arange(k)), 1, k, key="lab_every_digit",
                        caption="Same z, every digit: the style stays, the digit changes (click one to draw it)")
    if picked is not None:
        take(z, picked, f"the same z as digit {picked}")
    st.markdown("**From one digit to another at this z**")
    cols = st.columns(2)
    a = cols[0].selectbox("From", list(range(k)), index=digit, key="lab_blend_from")
    b = cols[1].selectbox("To", list(range(k)), index=(digit + 1) % k, key="lab_blend_to")
    if model.can_blend_digits:
        st.image(strip_png(model.blend_digits(z, a, b, 9), scale=3), width="stretch",
                 caption=f"the digit's embedding blended from {a} to {b} in 9 steps, z fixed")
    else:
        st.caption("This generator reads the digit in a way that cannot be blended (no label embedding "
                   "beside z): the two ends only.")
        st.image(png(model, every[[a, b]], "strip", np.asarray([a, b])), width=200, caption=f"{a} and {b} at this z")


def d_verdict(model: LabGenerator, z: np.ndarray, digit: int | None) -> None:
    """D's probability that the explorer's image is real, from the same step as the generator."""
    p = model.judge01(model.images01(z[None], digit), digit)
    if p is None:
        st.caption("What D thinks: no discriminator saved with this model.")
        return
    asked = f" as a {digit}" if digit is not None else ""
    verdict = "it fools D" if p[0] >= 0.5 else "D spots the fake"
    st.metric(f"D: probability this is a real digit{asked}", f"{p[0]:.2f}", help="D's output from the same training "
              "step as the generator: above 0.5 D calls the image real.", delta=verdict, delta_color="off", delta_arrow="off")


def norm_figure(paths: dict[str, np.ndarray], typical: float) -> go.Figure:
    fig = go.Figure()
    for name, path in paths.items():
        fig.add_trace(go.Scatter(y=np.linalg.norm(path, axis=1), mode="lines+markers", name=name))
    fig.add_hline(y=typical, line_dash="dash", annotation_text=f"typical norm {typical:.1f}")
    fig.update_layout(title="Latent norm along the path", xaxis_title="step", yaxis_title="|z|", height=280,
                      margin=dict(l=40, r=10, t=40, b=40))
    return fig


def between_points(model: LabGenerator, z: np.ndarray, digit: int | None, take: Take,
                   choose_b: Callable[[], tuple[np.ndarray, int | None, str]]) -> None:
    """Paths from the explorer's point A to B (a seed, or a drawing the class found: `choose_b`).
    When B is another digit's drawing and the generator allows it, the digit blends along the path."""
    st.subheader("Between points")
    cols = st.columns(4)
    with cols[0]:
        b, b_digit, b_name = choose_b()
    seed_c = cols[1].number_input("Seed of C (walk, analogy)", 0, 2**31 - 1, 11, key="lab_seed_c")
    method = cols[2].radio("Path", ["slerp", "lerp"], key="lab_method", horizontal=True)
    steps = cols[3].slider("Steps", 3, 16, 10, key="lab_steps")
    c = model.noise(1, int(seed_c))[0]
    via_c = st.checkbox("Continue on to C", key="lab_via_c")
    path = latent.interpolate([z, b, c] if via_c else [z, b], steps, method)
    caption = f"{method} from the explorer's point (A) to B ({b_name})" + (" to C" if via_c else "")
    if digit is not None and b_digit is not None and b_digit != digit and not via_c and model.can_blend_digits:
        picked = pick_image(strip_png(model.blend_path(path, digit, b_digit), scale=3), 1, len(path),
                            key="lab_strip_blend", caption=f"{caption}, the digit blending from {digit} to {b_digit}")
        if picked is not None:
            take(path[picked], digit if picked < len(path) / 2 else b_digit, f"the {method} path, sample {picked + 1}")
    else:
        strip(model, path, digit, "lab_strip_path", caption, take, f"the {method} path")
    typical = model.sigma * np.sqrt(model.latent_dim)
    st.plotly_chart(norm_figure({"lerp": latent.interpolate([z, b], steps, "lerp"),
                                 "slerp": latent.interpolate([z, b], steps, "slerp")}, typical), key="lab_norms")
    st.caption("Most of a high-dimensional Gaussian lies near the shell |z| = sqrt(d). The straight line between "
               "two points cuts inside it, where the generator rarely saw latents; slerp follows the shell.")
    left, right = st.columns(2)
    with left:
        frames = latent.walk([z, b, c], frames_per_leg=12, method=method)
        st.download_button("Download the walk A -> B -> C -> A (GIF)",
                           lambda: gif_bytes([image_png(img, scale=6) for img in model.images01(frames, digit)], 80),
                           file_name="latent_walk.gif", mime="image/gif", on_click="ignore", key="lab_gif")
    with right:
        corners = latent.analogy_grid(z, b, c)
        picked = pick_image(png(model, corners, "grid3", digit), 3, 3, key="lab_analogy", width=300,
                            caption="Analogy: A (top left), B (top right), C (bottom left), A - B + C (bottom right)")
        if picked is not None:
            take(corners[picked], digit, f"the analogy grid, cell {picked + 1}")
