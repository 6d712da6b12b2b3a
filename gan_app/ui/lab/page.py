"""The latent lab: steer a generator (the live run's, a shipped one or an opened model) with
sliders, directions, interpolation, walks and analogies; for a conditional generator, choose the
digit too. Clicking a sample (of the live grid or of any strip here) makes it the explorer's point.

The lab draws in each student's browser (gan_app/ui/lab/web, TensorFlow.js): the page sends the
model version to use, the tab fetches its weights once and every slider move stays in the tab.
The server keeps what needs it: the choice of model, the live copy (one for every lab), a
drawing's verdict and the class's list of found drawings; Find runs in the tab too. A model the
browser cannot rebuild, or a tab that asks for it, is drawn (and searched) on the server instead
(gan_app/ui/lab/server.py), one page run per move."""

from __future__ import annotations

import threading
import weakref
from typing import Any

import streamlit as st

from gan_app.lab.browser_model import UnsupportedInBrowser
from gan_app.runs.checkpoint import SHIPPED_CONDITIONAL, SHIPPED_EXPORT, CheckpointError
from gan_app.lab.bundle import bundle_from_export
from gan_app.classroom.room import classroom
from gan_app.ui.common import can_control, get_trainer, presenter_password, run_control
from gan_app.ui.lab.component import browser_lab
from gan_app.ui.lab.draw import class_points_json, moderation, your_digit
from gan_app.ui.lab.server import render_on_server
from gan_app.ui.lab.state import apply_pending, ask_for_live_sample, point_for_browser, take
from gan_app.ui.models.page import MODEL_KEY, _cached_export

__all__ = ["explore_live_sample", "page", "render"]

SHIPPED = {"mnist5k-wide (shipped)": SHIPPED_EXPORT,
           "mnist5k-conditional (shipped, choose the digit)": SHIPPED_CONDITIONAL}
ON_SERVER = "lab_on_server"  # this tab asked for the server-drawn lab
PRESENT_KEY = "lab_present"  # the presenter's Present switch (the server's state, shown)
GAME_KEY = "lab_game"  # the presenter's Real or fake? switch (the server's state, shown)
HOSTS_KEY = "lab_hosts_"  # + a switch's key: this tab switched it (with no password, its lab hosts)
_export_lock = threading.Lock()


class _PerExport:
    """Values kept per opened export object (by identity, checked: an id alone can be reused
    by a later object) for as long as that object lives."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, export: Any) -> Any:
        found = self._items.get(id(export))
        return found[1] if found is not None and found[0]() is export else None

    def put(self, export: Any, value: Any) -> Any:
        self._items = {k: v for k, v in self._items.items() if v[0]() is not None}
        self._items[id(export)] = (weakref.ref(export), value)
        return value


_export_keys = _PerExport()  # an opened export -> its bundle's key
_server_models = _PerExport()  # an opened export -> its server-side generator


def page() -> Any:
    return st.Page(render, title="Latent lab", icon=":material/tune:", url_path="lab")


def explore_live_sample(run_id: int, index: int) -> None:
    """From the Train page: sample `index` of the live grid becomes the lab's point, and the lab opens."""
    ask_for_live_sample(run_id, index)
    st.switch_page(page())


def _steps(meta: dict[str, Any]) -> str:
    steps = meta.get("steps")
    return f"{steps:,} steps" if isinstance(steps, int) else "steps not recorded"


def _chosen_export() -> Any:
    """The export the lab explores: a shipped one (kept apart from the session's opened model,
    so choosing it drops nothing) or the one this session opened on the Models page."""
    opened = st.session_state.get(MODEL_KEY)
    choices: dict[str, Any] = dict(SHIPPED)
    if opened is not None and opened.name not in {path.name for path in SHIPPED.values()}:
        choices[f"{opened.name} (opened on the Models page)"] = None
    if opened is not None and st.session_state.get("lab_seen_model") is not opened:
        st.session_state["lab_seen_model"] = opened  # newly opened there: the lab shows it
        st.session_state["lab_model"] = next(label for label, path in choices.items()
                                             if path is None or path.name == opened.name)
    if st.session_state.get("lab_model") not in choices:
        st.session_state["lab_model"] = next(iter(choices))
    path = choices[st.selectbox("Model", list(choices), key="lab_model", help="Open others on the Models page.")]
    if path is None:
        return opened
    if opened is not None and opened.name == path.name:
        return opened
    try:
        return _cached_export(str(path), (path / "generator.keras").stat().st_mtime)
    except (CheckpointError, OSError) as exc:
        st.error(f"Could not open {path.name}: {exc}")
        return None


def _present() -> str | None:
    """The presenter's switch: with Present on, every student's lab follows the leading lab.
    The presenter's token for this tab's lab while it leads, else None. It leads when an unlocked
    presenter's (with a password set) or, with no password (where every tab may act), when this
    tab switched Present on: the students' tabs follow, not lead."""
    presentation = classroom().announcer.presentation
    if not can_control(st.session_state):
        return None
    st.session_state[PRESENT_KEY] = presentation.on  # the server's, whichever presenter tab switched it
    st.toggle("Present: every student's lab follows mine", key=PRESENT_KEY, on_change=_switch_present,
              help="Students see your lab's model, point, tool and sliders as you move them, each drawn in their "
                   "own tab; they can explore on their own and follow again.")
    return presentation.token() if presentation.on and _hosts(PRESENT_KEY) else None


def _hosts(switch: str) -> bool:
    """Whether this tab's lab speaks for the presenter in the activity `switch` turns on."""
    return presenter_password() is not None or bool(st.session_state.get(HOSTS_KEY + switch))


def _switch_present() -> None:
    presentation = classroom().announcer.presentation
    st.session_state[HOSTS_KEY + PRESENT_KEY] = True
    run_control(st.session_state, presentation.start if st.session_state.get(PRESENT_KEY) else presentation.stop)


def _game() -> str | None:
    """The presenter's switch for Real or fake? (the class plays against D). The game's token
    for the lab that shows the class's curve instead of playing: an unlocked presenter's, or,
    with no password set (where every tab may act), the tab that switched the game on."""
    game = classroom().desk.game
    if not can_control(st.session_state):
        return None
    st.session_state[GAME_KEY] = game.on
    st.toggle("Real or fake?: the class plays against D", key=GAME_KEY, on_change=_switch_game,
              help="Every student's lab deals real digits and the live generator's fakes to tell apart; your lab "
                   "plots the class's accuracy beside D's, by the run's step. Each student sees only their own score.")
    return game.token() if _hosts(GAME_KEY) else None


def _switch_game() -> None:
    game = classroom().desk.game
    st.session_state[HOSTS_KEY + GAME_KEY] = True
    run_control(st.session_state, game.start if st.session_state.get(GAME_KEY) else game.stop)


def _from_link() -> None:
    """A link's generator (`?model=<a shipped model>`, or `?model=live`) chosen once, when the
    session first opens the lab; the lab's view itself travels after "#lab=" (web/share.js),
    and the tab keeps both in its URL."""
    if st.session_state.get("lab_link_read"):
        return
    st.session_state["lab_link_read"] = True
    asked = st.query_params.get("model")
    if asked == "live":
        st.session_state["lab_source"] = "Live run"
    elif asked in {label.split(" ", 1)[0]: label for label in SHIPPED}:
        st.session_state["lab_source"] = "Opened model"
        st.session_state["lab_model"] = next(label for label in SHIPPED if label.split(" ", 1)[0] == asked)


def _link_name(source: str) -> str | None:
    """How a link names the generator shown (`?model=`): "live", a shipped model's name, or None
    for a model opened on the Models page (a link cannot open it)."""
    if source == "Live run":
        return "live"
    label = st.session_state.get("lab_model")
    return label.split(" ", 1)[0] if label in SHIPPED and not _opened_is(label) else None


def _opened_is(label: str) -> bool:
    opened = st.session_state.get(MODEL_KEY)
    return opened is not None and opened.name == SHIPPED[label].name


def _export_key(export: Any) -> str:
    """The bundle of an opened export, built once for every session that opens the same one."""
    with _export_lock:
        key = _export_keys.get(export)
        registry = classroom().registry
        if key is None or registry.get(key) is None:
            key = _export_keys.put(export, bundle_from_export(export, registry))
        return key


def _live_version() -> Any:
    """The live run's copy for the lab (one for every lab); None before any training."""
    presenter = can_control(st.session_state)
    feed = classroom().feed
    if not presenter or "lab_auto" not in st.session_state:  # a student's tab shows the class's setting
        st.session_state["lab_auto"] = feed.every_steps
    cols = st.columns([3, 2])
    every = cols[0].number_input(
        "Copy the live weights for every lab each N steps (0: only on request)", 0, 100_000,
        key="lab_auto", disabled=not presenter,
        help="A server-wide setting (the presenter's when the lock is on): each copy reaches every open lab.")
    if presenter and int(every) != feed.every_steps:
        feed.every_steps = int(every)
    refresh = cols[1].button("Refresh from the live run", key="lab_refresh", disabled=not presenter,
                             help="Takes a copy now, for every open lab.")
    if get_trainer().snapshot().step == 0:
        st.info("The live run has not trained yet: press Start on the Train page, or open a model.")
        return None
    return feed.refresh(force=refresh and presenter)


def render() -> None:
    apply_pending()
    st.title("Latent lab")
    st.caption("Steer the generator: every image here comes from a latent vector z you choose. "
               "Click any sample on this page (or on the Train page's live grid) to explore it.")
    _from_link()
    if "lab_source" not in st.session_state:  # before any training, start on the shipped model
        st.session_state["lab_source"] = "Live run" if get_trainer().snapshot().step else "Opened model"
    source = st.radio("Generator", ["Live run", "Opened model"], horizontal=True, key="lab_source",
                      help="Opened model: a shipped generator or one opened on the Models page.")
    key, step, export, why, in_tab = None, None, None, "", None
    if source == "Live run":
        live = _live_version()
        if live is None:
            return
        key, step = live.key, live.step
        st.caption("Using the live generator's and discriminator's weights: a copy for every lab, renewed as "
                   "the run trains (the lab names the step it draws).")
    else:
        export = _chosen_export()
        if export is None:
            return
        saved_d = "with its discriminator" if export.discriminator is not None else "no discriminator saved"
        st.caption(f"Using {export.name} ({_steps(export.meta)}, {saved_d}).")
        try:
            key = _export_key(export)
        except UnsupportedInBrowser as exc:
            why = f"This model cannot be drawn in the browser ({exc}): the lab draws it on the server, slower."
    on_server = st.toggle("Draw on the server instead of in this tab", key=ON_SERVER,
                          help="For a browser that cannot run the generator: slower, one page run per move.")
    if key is None or on_server:
        if why:
            st.info(why)
        model = classroom().registry.generator(key) if key is not None else _server_generator(export)
        render_on_server(model, source == "Live run")
        version = model.version
        model_of = lambda: model  # noqa: E731
    else:
        failed = browser_lab(key, step, source == "Live run", point_for_browser(), class_points_json(key),
                             _link_name(source), _present(), _game())
        if failed:
            st.warning(f"This tab could not run the generator ({failed}): switch on "
                       "\"Draw on the server\" above.")
        version = key
        in_tab = None if failed else key  # Find runs in the tab too
        model_of = lambda: classroom().registry.generator(key)  # noqa: E731
    with st.expander("Your own digit: draw one (or upload it), see what the classifier and D make of it, "
                     "and find it in latent space", expanded=bool(st.session_state.get("lab_found"))):
        your_digit(version, model_of, take, in_tab, live=source == "Live run")
    moderation(version, model_of)


def _server_generator(export: Any) -> Any:
    """A model the browser cannot rebuild, drawn on the server (built once per opened export)."""
    from gan_app.lab.model import LabGenerator

    with _export_lock:
        model = _server_models.get(export)
        if model is None:
            model = _server_models.put(export, LabGenerator.from_export(export))
        return model
