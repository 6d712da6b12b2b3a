"""Your own digit, in the latent lab: draw one (or upload a picture), see what the reference
classifier and D make of it, and find it in latent space. Found drawings join the class's list,
so anyone exploring the same generator can walk from their point to a classmate's drawing."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import streamlit as st

from gan_app.lab.points import NAME_CHARS, AnswerError, checked_answer, clean_name
from gan_app.data.drawing import decode, to_mnist
from gan_app.core.errors import ImageInputError
from gan_app.core.images import image_png
from gan_app.lab.model import LabGenerator
from gan_app.lab.inversion import Projection, Projector
from gan_app.ui.lab.canvas import drawing_canvas
from gan_app.classroom.room import classroom
from gan_app.ui.common import can_control, run_control
from gan_app.ui.lab.component import browser_find
from gan_app.ui.lab.tools import GALLERY_COLUMNS, Take, labeller, png
from gan_app.ui.pick import pick_image

MAX_UPLOAD_MB = 5
FOUND = "lab_found"  # this session's latest projection, shown after the page run that takes it
ASKED = "lab_find_asked"  # (version, request number, target, name, what) of a search running in the tab
FIND_FAILED = "lab_find_failed"  # why the tab's latest search fell back to the server
ASKED_COUNT = "lab_find_count"  # this session's searches so far: numbers each request


def class_points_json(version: str) -> list[dict[str, Any]]:
    """The class's drawings for a generator version, as the browser lab reads them."""
    return classroom().points.as_json(version)


def _find(model: LabGenerator, x: np.ndarray) -> Any:
    """The search, batched with the class's other searches; None when too many are waiting."""
    return classroom().find_queue.find(model.version, lambda: Projector(model.generator, model.meta), x)


def _target() -> tuple[np.ndarray | None, str]:
    """The converted drawing or upload (28x28 in [0, 1]) and what it is; a message in the page otherwise."""
    left, right = st.columns(2)
    with left:
        png = drawing_canvas("lab_canvas")
    with right:
        upload = st.file_uploader("...or upload a picture (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="lab_upload",
                                  help=f"Up to {MAX_UPLOAD_MB} MB. Dark ink on a light background is inverted "
                                       "to white on black, like the training digits.")
    data, name = (png, "the drawing") if png is not None else (None, "")
    if upload is not None:
        if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
            st.error(f"{upload.name} is larger than {MAX_UPLOAD_MB} MB.")
            return None, ""
        data, name = upload.getvalue(), upload.name
    if data is None:
        st.caption("Draw a digit on the black square (a stroke at a time), or upload one.")
        return None, ""
    try:
        return to_mnist(decode(data, name), name), name
    except ImageInputError as exc:
        st.warning(str(exc))
        return None, ""


def verdicts(model: LabGenerator, x: np.ndarray) -> tuple[int, float, float | None]:
    """(the classifier's digit, its probability, D's probability that the image is real as that digit)."""
    probs = labeller()(x[None])[0]
    digit = int(np.argmax(probs))
    d = model.judge01(x[None], digit)
    return digit, float(probs[digit]), None if d is None else float(d[0])


def your_digit(version: str, model_of: Callable[[], LabGenerator], take: Take, in_tab: str | None = None,
               live: bool = False) -> None:
    """The drawing section; `model_of()` builds the server-side generator only when a drawing
    needs it. `in_tab`: the model version the tab's lab draws, where Find runs in the tab too.
    `live`: that version is a copy of the live run (a newer copy may replace it mid-search)."""
    x, name = _target()
    model = model_of() if x is not None else None
    if x is not None and model is None:
        st.info("This model version is no longer kept on the server: reload the page.")
    elif x is not None:
        digit, p, d = verdicts(model, x)
        cols = st.columns(3)
        cols[0].image(image_png(x, scale=5), caption="as the training data looks (28x28)", width=140)
        cols[1].metric("Classifier reads", f"{digit}", f"{p:.0%} sure", delta_color="off", delta_arrow="off")
        if d is None:
            cols[2].metric("D: real?", "n/a", "no discriminator saved", delta_color="off", delta_arrow="off")
        else:
            cols[2].metric(f"D: real (as a {digit})?" if model.num_classes else "D: real?", f"{d:.2f}",
                           "D calls it real" if d >= 0.5 else "D calls it fake", delta_color="off", delta_arrow="off",
                           help="The probability D gives that this is a real digit, from the same training step "
                                "as the generator in use.")
        who = st.text_input("Your name, for the class's list of drawings", "a student", max_chars=NAME_CHARS,
                            key="lab_who")
        if st.button("Find in latent space", key="lab_find", type="primary",
                     help="Searches the z whose G(z) looks most like your image (G stays fixed)."):
            request = (version, int(st.session_state.get(ASKED_COUNT, 0)) + 1, x, clean_name(who), name)
            st.session_state[ASKED_COUNT] = request[1]
            if in_tab is None:
                _found(model, request, _find_on_server(model, x), take, "on the server")
            else:
                st.session_state[ASKED] = (request, in_tab, live)
        pending = st.session_state.get(ASKED)
        # the search goes on while the page shows its generator, or a newer copy of the same live run
        if in_tab is not None and pending is not None and (pending[0][0] == version or (pending[2] and live)):
            asked, searched, _ = pending
            answer = browser_find(searched, asked[1], np.asarray(asked[2], np.float32).ravel().round(4).tolist())
            if answer is not None:
                del st.session_state[ASKED]
                if answer.get("failed"):  # the tab could not search (too slow, a missing kernel): the server does
                    st.session_state[FIND_FAILED] = str(answer["failed"])[:200]
                    _found(model, asked, _find_on_server(model, asked[2]), take, "on the server")
                else:
                    st.session_state.pop(FIND_FAILED, None)
                    where = "in this tab" if searched == version else "in this tab (in the previous copy of the live run)"
                    _found(model, asked, _tab_answer(model, answer), take, where)
    shown = st.session_state.get(FOUND)
    if shown is not None and shown[0] == version and st.session_state.get(FIND_FAILED):
        st.caption(f"This tab could not search ({st.session_state[FIND_FAILED]}): the server did.")
    if shown is not None and shown[0] == version:
        _, found, x, label, where = shown
        cols = st.columns([1, 1, 3])
        cols[0].image(image_png(x, scale=5), caption="your image", width=140)
        cols[1].image(image_png(found.image01, scale=5), caption=f"G(z) found: error {found.mse:.4f}", width=140)
        cols[2].caption(f"{label}: found {where} in {found.seconds:.1f} s (mean squared error {found.mse:.4f}, pixels in "
                        "[0, 1]). It is now the explorer's point: drag directions from it, or walk to a "
                        "classmate's drawing under Between points.")


def _find_on_server(model: LabGenerator, x: np.ndarray) -> Projection | str:
    """The server's search, batched with the class's; a message instead when it cannot run now."""
    try:
        found = _find(model, x)
    except RuntimeError as exc:  # the batch's search failed: one line, nothing shared
        return str(exc)
    return "Too many searches are waiting: try again in a few seconds." if found is None else found


def _tab_answer(model: LabGenerator, answer: dict[str, Any]) -> Projection | str:
    """The tab's answer as a projection, once it has been held against the model it claims to be
    for (nothing unchecked is kept or shown to the class); one line saying why otherwise."""
    try:
        return Projection(**checked_answer(answer, model.latent_dim, model.num_classes, model.sigma))
    except AnswerError as exc:
        return f"This tab's answer was refused: {exc}."


def _found(model: LabGenerator, request: tuple, found: Projection | str, take: Take, where: str) -> None:
    """A search's answer: shared with the class and explored, or its message shown."""
    if isinstance(found, str):
        st.warning(found)
        return
    _, _, x, who, name = request
    reads = int(np.argmax(labeller()(model.images01(found.z[None], found.digit))[0]))  # for the class map
    label = classroom().points.share(model.version, who, found.z, found.digit, reads)
    st.session_state[FOUND] = (model.version, found, x, label, where)
    take(found.z, found.digit, f"{label} ({name}), found in latent space")


def moderation(version: str, model_of: Callable[[], LabGenerator | None]) -> None:
    """The presenter's hand on the class's list of drawings, shown as a gallery: put one on every
    student's screen (spotlight), hide one, or clear them all."""
    room = classroom()
    points = room.points.of(version)
    if not points or not can_control(st.session_state):
        return
    with st.expander(f"The class's drawings ({len(points)}): spotlight one, hide one, or clear the list",
                     expanded=False):
        labels = list(points)
        model = model_of()
        if model is not None:
            zs = np.stack([points[label][0] for label in labels]).astype(np.float32)
            digits = np.array([points[label][1] or 0 for label in labels]) if model.num_classes else None
            picked = pick_image(png(model, zs, "gallery", digits), -(-len(labels) // GALLERY_COLUMNS),
                                min(len(labels), GALLERY_COLUMNS), key="lab_gallery",
                                caption="Newest first: click one to choose it")
            if picked is not None and picked < len(labels):
                st.session_state["lab_moderate_pick"] = labels[picked]
        if st.session_state.get("lab_moderate_pick") not in points:
            st.session_state["lab_moderate_pick"] = labels[0]
        cols = st.columns([3, 1, 1, 1])
        label = str(cols[0].selectbox("Drawing", labels, key="lab_moderate_pick", label_visibility="collapsed"))
        z, digit = points[label]
        if cols[1].button("Spotlight it", key="lab_moderate_spotlight", type="primary",
                          help="Every student's lab shows this drawing now."):
            if run_control(st.session_state, lambda: room.announcer.spotlight(version, label, [float(v) for v in z], digit)):
                st.toast(f"{label} is on every student's screen.")
        if cols[2].button("Hide it", key="lab_moderate_hide"):
            run_control(st.session_state, lambda: room.points.hide(version, label), f"{label} is hidden.")
            st.rerun()
        if cols[3].button("Clear all", key="lab_moderate_clear"):
            run_control(st.session_state, lambda: room.points.clear(version), "The class's list is empty.")
            st.rerun()


def point_choice(model: LabGenerator, seed_of: Callable[[int], np.ndarray]) -> tuple[np.ndarray, int | None, str]:
    """B for the paths: a seed's z, or a drawing the class found in this generator (with its
    digit, for a conditional one)."""
    points = classroom().points.of(model.version)
    options = ["a seed", *points]
    choice = st.selectbox("B is", options, key="lab_b_kind", help="Drawings the class found in latent space appear here.")
    if choice == "a seed" or choice not in points:
        seed = st.number_input("Seed of B", 0, 2**31 - 1, 7, key="lab_seed_b")
        return seed_of(int(seed)), None, f"seed {int(seed)}"
    z, digit = points[choice]
    return z, digit, choice
