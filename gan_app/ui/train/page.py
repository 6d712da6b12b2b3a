"""The live page: controls, status, loss curves and the sample grid of the one shared run."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Callable

import streamlit as st

from gan_app.core.config import LOSSES, NOISES, PRESETS
from gan_app.core.images import enlarge_png, gif_bytes
from gan_app.core.config import RunConfig
from gan_app.live.trainer import LiveTrainer, Snapshot
from gan_app.live.types import ALLOWED
from gan_app.ui.train import charts
from gan_app.ui.live.channel import MAX_EVERY_S, MIN_EVERY_S, grid_source, grid_url
from gan_app.ui.train.dataset_upload import add_dataset, dataset_label, dataset_options
from gan_app.ui.train.join_card import join_card
from gan_app.ui.lab.page import explore_live_sample
from gan_app.ui.live.panel import live_panel
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
        "chart_refresh_s": 5.0,
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
        st.slider("Refresh numbers and curves every (s)", 1.0, 10.0, key="chart_refresh_s", step=0.5,
                  help="Every refresh reruns this page's Python on the server for your tab: every 5 s "
                       "lets a class watch without slowing the run.")
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
    locked = not can_control(st.session_state)
    for col, (label, name, control) in zip(st.columns(len(CONTROLS)), CONTROLS):
        col.button(label, key=f"btn_{name}", width="stretch",
                   disabled=locked or snap.status not in ALLOWED[control],
                   on_click=run_control, args=(st.session_state, control_action(trainer, name)))


def status_row(snap: Snapshot) -> None:
    # One horizontal container, not columns: every block is one more message to every tab.
    with st.container(horizontal=True, gap="medium"):
        st.metric("Step", f"{snap.step:,}", width="content")
        st.metric("steps/s", f"{snap.steps_per_s:.1f}", width="content",
                  help="wall clock over the last few seconds of training")
        st.metric("images/s", f"{snap.images_per_s:,.0f}", width="content", help="generated images per second")
        st.metric("Elapsed", str(dt.timedelta(seconds=int(snap.elapsed_s))), width="content",
                  help="training time, pauses excluded")
        st.metric("State", snap.status, width="content")
        st.metric("Device", snap.device.split(" (")[0] or "?", width="content", help=snap.device)


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


def shared_figure(kind: str, key: tuple, build: Callable[[], dict]) -> charts.SharedFigure:
    """A figure built once for every viewer of the same data and view settings."""
    return RENDERS.get(kind, key, lambda: charts.SharedFigure(build()))


def quality_histogram(snap: Snapshot) -> None:
    if snap.quality_note:
        st.info(f"Sample quality is not available for this dataset: {snap.quality_note}.")
    elif snap.histogram:
        key = (snap.run_id, len(snap.quality_steps), snap.histogram)
        st.plotly_chart(shared_figure("histogram", key, lambda: charts.histogram_figure(snap.histogram)),
                        key="histogram_chart")


def fid_chart(snap: Snapshot) -> None:
    if len(snap.quality_steps) and not snap.quality_note:
        fid, score, covered = snap.quality[-1]
        key = (snap.run_id, len(snap.quality_steps), float(snap.quality_steps[-1]))
        fig = shared_figure("fid", key, lambda: charts.fid_figure(snap.quality_steps, snap.quality[:, 0], real_floor()))
        st.plotly_chart(fig, key="fid_chart")
        asked = "" if snap.label_accuracy is None else f"label accuracy {snap.label_accuracy:.0%} (drawn as the digit asked for), "
        st.caption(f"Latest: FID {fid:.1f}, {asked}classifier score {score:.2f} (real digits about 10), "
                   f"{int(covered)} of 10 digits covered. Measuring costs {snap.quality_cost:.1%} of training time.")


@st.cache_data(show_spinner=False)
def real_floor() -> float | None:
    from gan_app.models.classifier import classifier_info

    return classifier_info().get("real_floor_fid")


def progress_panel() -> None:
    """Numbers and curves: every tab reruns this every chart_refresh_s seconds."""
    snap = get_trainer().snapshot()
    status_row(snap)
    if len(snap.history_steps) == 0:
        st.caption("Loss curves appear once training starts.")
        return
    smoothing = float(st.session_state.get("smoothing", 0.6))
    parts = bool(st.session_state.get("show_parts"))
    names = ["d_loss", "g_loss"] + (["d_loss_real", "d_loss_fake"] if parts else [])
    version = (snap.run_id, snap.history_version)
    loss = shared_figure("loss", (*version, smoothing, parts), lambda: charts.loss_figure(
        snap.history_steps, {name: snap.metric(name) for name in names}, smoothing))
    d_out = shared_figure("d_output", (*version, smoothing), lambda: charts.d_output_figure(
        snap.history_steps, snap.metric("d_real"), snap.metric("d_fake"), smoothing))
    st.plotly_chart(loss, key="loss_chart")
    st.plotly_chart(d_out, key="d_chart")
    fid_chart(snap)
    quality_histogram(snap)


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
    left, right = st.columns([5, 6], gap="large")
    with left:
        show_scores = st.toggle("Show what D thinks of each sample", key="show_d_scores",
                                help="D's probability that each sample is real, from the same step as the grid "
                                     "(this tab only).")
        picked = live_panel(snap, float(st.session_state["refresh_s"]), show_scores)
        if show_scores:
            st.caption("Green frame: D calls this fake real (it fools D). Red: D spots it. "
                       "Click any sample to explore it in the latent lab.")
        if picked is not None:
            explore_live_sample(int(picked["run"]), int(picked["index"]))
        downloads()
        grid_history()
    with right:
        st.fragment(run_every=st.session_state["chart_refresh_s"])(progress_panel)()
