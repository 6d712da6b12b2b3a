"""The live page: controls, status, loss curves and the sample grid of the one shared run.
The grid, the numbers and the curves are pushed to every tab (gan_app/ui/live/): no part of this
page reruns by itself."""

from __future__ import annotations

import functools
import re

import streamlit as st

from gan_app.core.config import LOSSES, NOISES, PRESETS
from gan_app.core.images import enlarge_png, gif_bytes
from gan_app.core.config import RunConfig
from gan_app.live.trainer import LiveTrainer, Snapshot
from gan_app.live.types import ALLOWED
from gan_app.ui.live.channel import MAX_EVERY_S, MIN_EVERY_S, grid_source, grid_url
from gan_app.ui.train.dataset_upload import add_dataset, dataset_label, dataset_options
from gan_app.ui.train.join_card import join_card
from gan_app.ui.lab.page import explore_live_sample
from gan_app.ui.live.panel import live_panel
from gan_app.ui.live.progress import MAX_CHART_EVERY_S, MIN_CHART_EVERY_S, ChartView
from gan_app.ui.train.progress import progress_panel
from gan_app.ui.shared import RENDERS
from gan_app.classroom.room import LIVE_RUN, checkpoints_root
from gan_app.ui.common import (
    NOTICE_KEY,
    can_control,
    get_trainer,
    presenter_sidebar,
    run_control,
    show_notice,
)

EXPORT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
REPLACE_KEY = "export_replace"  # session_state: the presenter asks to replace an earlier export
DOWNLOAD_SCALE = 4  # live grids are kept one pixel per pixel; downloads enlarge them
# Grids travel at one pixel per pixel; the browser enlarges them without blurring.
PIXELATED = "<style>[data-testid='stImage'] img {image-rendering: pixelated;}</style>"


def _live_change(trainer: LiveTrainer, field: str) -> None:
    value = st.session_state[f"live_{field}"]
    run_control(st.session_state, lambda: trainer.apply_live(**{field: value}), f"{field} = {value} applies now.")


def _interval_change(trainer: LiveTrainer) -> None:
    steps = st.session_state["live_sample_interval"]
    run_control(st.session_state, lambda: trainer.set_grid_every(steps))


def _reset(trainer: LiveTrainer, config: RunConfig) -> None:
    s = st.session_state
    if run_control(s, lambda: trainer.reset(config), "Reset: press Start to train with these settings."):
        for key in ("live_d_lr", "live_g_lr"):  # show the new preset's learning rates
            s.pop(key, None)


def _save(trainer: LiveTrainer) -> None:
    run_control(st.session_state, trainer.save_checkpoint)


def _export(trainer: LiveTrainer) -> None:
    name = st.session_state.get("export_name", "").strip()
    if not EXPORT_NAME.fullmatch(name) or name == LIVE_RUN:
        st.session_state[NOTICE_KEY] = ("error", "Export names use letters, digits, '-' and '_' (and not 'live').")
        return
    replace = bool(st.session_state.get(REPLACE_KEY))
    # refused in one line, before anything is written: a shipped model's name, a run, a model
    # exported elsewhere, or an earlier export of a dashboard without "Replace"
    if run_control(st.session_state, lambda: trainer.export(checkpoints_root() / name, replace=replace)):
        st.session_state[REPLACE_KEY] = False  # each replacement is asked for again


def _defaults(snap: Snapshot) -> None:
    """Initialise this session's widgets from the shared run's settings."""
    cfg = snap.config
    preset = cfg.preset_obj()
    initial = {
        "run_preset": cfg.preset,
        "run_dataset": cfg.dataset,
        "run_batch_size": preset.batch_size,
        "run_seed": cfg.seed,
        "run_noise": preset.noise,
        "live_loss": preset.loss,
        "live_k": preset.k,
        "live_d_lr": preset.d_lr,
        "live_g_lr": preset.g_lr,
        "live_sample_interval": snap.grid_every,
        "export_name": f"{cfg.dataset}-{cfg.preset}-export",
        "refresh_s": 1.0,
        "chart_refresh_s": 2.0,
        "smoothing": 0.6,
    }
    for key, value in initial.items():
        st.session_state.setdefault(key, value)


def settings_sidebar(trainer: LiveTrainer, snap: Snapshot) -> RunConfig:
    """The sidebar's settings; returns the run config they describe (what Reset applies)."""
    locked = not can_control(st.session_state)
    with st.sidebar:
        st.subheader("Live settings")
        st.caption("Apply at once, without restarting.")
        st.radio("Generator loss", LOSSES, key="live_loss", disabled=locked, horizontal=True,
                 on_change=_live_change, args=(trainer, "loss"),
                 help="nonsaturating: maximise log D(G(z)); minimax: minimise log(1 - D(G(z))) (eq. 1)")
        st.number_input("k: D steps per G step", 1, 10, key="live_k", disabled=locked,
                        on_change=_live_change, args=(trainer, "k"))
        st.number_input("D learning rate", 1e-6, 1e-1, key="live_d_lr", format="%.1e", step=1e-5,
                        disabled=locked, on_change=_live_change, args=(trainer, "d_lr"))
        st.number_input("G learning rate", 1e-6, 1e-1, key="live_g_lr", format="%.1e", step=1e-5,
                        disabled=locked, on_change=_live_change, args=(trainer, "g_lr"))
        st.number_input("Sample grid every N steps", 1, 10_000, key="live_sample_interval", disabled=locked,
                        on_change=_interval_change, args=(trainer,))

        st.subheader("Run settings")
        st.caption("These need **Reset** (they rebuild the networks).")
        st.selectbox("Preset", list(PRESETS), key="run_preset", disabled=locked,
                     format_func=lambda name: f"{name}: {PRESETS[name].description[:40]}...")
        options = dataset_options()
        if st.session_state.get("run_dataset") not in options:  # e.g. the run's own .npz or .zip path
            options.append(st.session_state["run_dataset"])
        st.selectbox("Dataset", options, key="run_dataset", disabled=locked, format_func=dataset_label,
                     help="mnist5k ships with the app and works offline; mnist and fashion_mnist download once; "
                          "your own images are added below.")
        add_dataset(int(st.session_state["run_batch_size"]))
        st.number_input("Batch size", 1, 1024, key="run_batch_size", disabled=locked)
        st.number_input("Seed", 0, 2**31 - 1, key="run_seed", disabled=locked)
        st.selectbox("Noise prior of z", NOISES, key="run_noise", disabled=locked)
        s = st.session_state
        config = RunConfig(preset=s["run_preset"], dataset=s["run_dataset"], batch_size=int(s["run_batch_size"]),
                           seed=int(s["run_seed"]), noise=s["run_noise"], loss=s["live_loss"], k=int(s["live_k"]))
        st.button("Apply settings and Reset", on_click=_reset, args=(trainer, config), disabled=locked)

        st.subheader("Keep this run")
        st.caption(f"The run is saved every {snap.config.checkpoint_every:,} steps in {snap.run_dir} and resumed "
                   "when the server restarts." + (f" Last checkpoint: step {snap.checkpoint_step:,}." if snap.checkpoint_step >= 0 else ""))
        st.button("Save checkpoint now", on_click=_save, args=(trainer,), disabled=locked)
        st.text_input("Export name", key="export_name", disabled=locked,
                      help="generator.keras, discriminator.keras and meta.json go to checkpoints/<name>/, for the Models "
                           "page and the latent lab")
        st.checkbox("Replace an earlier export", key=REPLACE_KEY, disabled=locked,
                    help="Only an export this dashboard wrote under that name. Shipped models, runs and models "
                         "exported elsewhere are never replaced.")
        st.button("Export generator", on_click=_export, args=(trainer,), disabled=locked)

        st.subheader("This page")
        st.slider("Refresh the grid every (s)", MIN_EVERY_S, MAX_EVERY_S, key="refresh_s", step=0.5,
                  help="The live panel is pushed to every tab; this sets how often yours takes it.")
        st.slider("Refresh the curves every (s)", MIN_CHART_EVERY_S, MAX_CHART_EVERY_S, key="chart_refresh_s", step=0.5,
                  help="The curves are pushed to your tab this often when they change (the numbers come with "
                       "the grid).")
        st.slider("Curve smoothing (EMA)", 0.0, 0.99, key="smoothing", step=0.01)
        st.checkbox("Show d_loss_real and d_loss_fake", key="show_parts")
    return config


CONTROLS = (  # label, action, the trainer's control (gan_app.live.types.ALLOWED says when it acts)
    ("Start", "start", "start"),
    ("Pause", "pause", "pause"),
    ("Resume", "resume", "resume"),
    ("Stop", "stop", "stop"),
    ("Reset", "reset", "reset"),
    ("Step D", "step_d", "step"),
    ("Step G", "step_g", "step"),
    ("Step both", "step_both", "step"),
)


def control_action(trainer: LiveTrainer, name: str):
    return {
        "start": trainer.start,
        "pause": trainer.pause,
        "resume": trainer.resume,
        "stop": trainer.stop,
        "reset": trainer.reset,
        "step_d": functools.partial(trainer.step_once, "d"),
        "step_g": functools.partial(trainer.step_once, "g"),
        "step_both": functools.partial(trainer.step_once, "both"),
    }[name]


def controls(trainer: LiveTrainer, snap: Snapshot) -> None:
    """The run's buttons. A click is read from the button's value, not a callback: a server that
    has not run this tab's page yet (restarted, or another replica behind the proxy) knows none of
    its callbacks, and the click would be lost; then the page is drawn again as the action left it."""
    locked = not can_control(st.session_state)
    clicked = None
    for col, (label, name, control) in zip(st.columns(len(CONTROLS)), CONTROLS):
        if col.button(label, key=f"btn_{name}", width="stretch", disabled=locked or snap.status not in ALLOWED[control]):
            clicked = name
    if clicked is not None:
        run_control(st.session_state, control_action(trainer, clicked))
        st.rerun()


def _latest_grid_png() -> bytes:
    snap = get_trainer().snapshot()
    if snap.grid_png is None:
        return b""
    return RENDERS.get("grid_x4", (snap.run_id, snap.grid_step), lambda: enlarge_png(snap.grid_png, DOWNLOAD_SCALE))


def _progress_gif() -> bytes:
    snap = get_trainer().snapshot()
    frames = [f for _, f in snap.frames]
    if not frames:
        return b""
    key = (snap.run_id, len(frames), snap.frames[-1][0])
    return RENDERS.get("gif", key, lambda: gif_bytes(frames, duration_ms=150, scale=DOWNLOAD_SCALE))


def downloads() -> None:
    """Made when clicked, from the run as it is then: nothing is encoded for a viewer who never
    downloads, and the buttons need no refresh."""
    left, right = st.columns(2)
    left.download_button("Download grid (PNG)", _latest_grid_png, file_name="gan_grid.png", mime="image/png",
                         on_click="ignore", width="stretch", help="the latest grid, when you click")
    right.download_button("Download progress (GIF)", _progress_gif, file_name="gan_progress.gif", mime="image/gif",
                          on_click="ignore", width="stretch", help="every saved grid so far, as an animation")


@st.fragment
def grid_history() -> None:
    """Earlier grids of the run; reruns only when its own widgets change."""
    if not st.toggle("Browse grid history", key="browse_history"):
        return
    snap = get_trainer().snapshot()
    if len(snap.frames) < 2:
        st.caption("Earlier grids appear here once the run has saved a few.")
        return
    steps = [s for s, _ in snap.frames]
    key = f"history_{snap.run_id}"
    if st.session_state.get(key) not in steps:
        st.session_state[key] = steps[-1]
    chosen = st.select_slider("Grid at step", options=steps, key=key,
                              help="The list is as of your last change here; move the slider to bring it up to date.")
    png = dict(snap.frames)[chosen]
    st.image(grid_url(snap.run_id, chosen, png), width="stretch",
             caption=f"samples at step {chosen:,} from {grid_source(snap)} (fixed noise batch)")
    st.download_button("Download this grid (PNG)", RENDERS.get("grid_x4", (snap.run_id, chosen),
                                                              lambda: enlarge_png(png, DOWNLOAD_SCALE)),
                       file_name=f"gan_grid_step_{chosen:06d}.png", mime="image/png", on_click="ignore")


def render() -> None:
    trainer = get_trainer()
    snap = trainer.snapshot()
    _defaults(snap)
    presenter_sidebar()
    settings_sidebar(trainer, snap)
    st.title("Watch a GAN learn")
    st.caption(
        "A DCGAN learns handwritten digits: the discriminator D tells real from generated, the generator G "
        "learns to fool it. Everyone connected watches the same run."
    )
    st.html(PIXELATED)
    if can_control(st.session_state) and st.toggle("Show the join card", key="show_join_card",
                                                   help="The addresses students open, as text and a QR code, "
                                                        "for the projector (this tab only)."):
        join_card()
    controls(trainer, snap)
    show_notice()
    s = st.session_state
    view = ChartView.checked(float(s["chart_refresh_s"]), float(s["smoothing"]), bool(s.get("show_parts")))
    left, right = st.columns([5, 6], gap="large")
    with left:
        show_scores = st.toggle("Show what D thinks of each sample", key="show_d_scores",
                                help="D's probability that each sample is real, from the same step as the grid "
                                     "(this tab only).")
        picked = live_panel(snap, float(st.session_state["refresh_s"]), show_scores, view)
        if show_scores:
            st.caption("Green frame: D calls this fake real (it fools D). Red: D spots it. "
                       "Click any sample to explore it in the latent lab.")
        if picked is not None:
            explore_live_sample(int(picked["run"]), int(picked["index"]))
        downloads()
        grid_history()
    with right:
        progress_panel(snap, view)
