"""What every page shares: the server's one Trainer, the presenter lock, and control handlers
that enforce it (hiding a button is not enough: a handler refuses a viewer itself)."""

from __future__ import annotations

import hmac
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, MutableMapping

import streamlit as st

from gan_app.errors import GanAppError
from gan_app.config import DEFAULT_PRESET
from gan_app.checkpoint import REPO_CHECKPOINTS
from gan_app.config import RunConfig
from gan_app.live import LiveTrainer

PASSWORD_ENV = "GAN_APP_PRESENTER_PASSWORD"
PRESET_ENV = "GAN_APP_PRESET"
CHECKPOINTS_ENV = "GAN_APP_CHECKPOINTS"  # where the live run's state and exports go
RUN_ENV = "GAN_APP_RUN"  # a run directory to continue live at start-up
LIVE_RUN = "live"  # checkpoints/live/: the dashboard's run, resumed after a server restart
PRESENTER_KEY = "presenter"  # session_state flag: this session entered the password
NOTICE_KEY = "notice"  # session_state: (kind, text) left by a handler
SHOWN_NOTICE_KEY = "notice_shown"  # session_state: (kind, text, monotonic time it stops showing)
NOTICE_SECONDS = 8.0


_trainer: LiveTrainer | None = None
_trainer_lock = threading.Lock()


def get_trainer() -> LiveTrainer:
    """One trainer per server process, shared by every viewer and by the live channel, which
    serves outside any script run (so not in st.cache_resource; "Clear cache" cannot drop it
    either). GAN_APP_PRESET picks the preset a fresh server starts with (default: fast);
    GAN_APP_RUN=DIR opens the run saved in DIR (by the CLI or a dashboard) instead, paused."""
    global _trainer
    with _trainer_lock:
        if _trainer is None or _trainer.closed:
            _trainer = LiveTrainer(RunConfig(preset=os.environ.get(PRESET_ENV, DEFAULT_PRESET)),
                                   checkpoint_dir=checkpoints_root() / LIVE_RUN)
            if os.environ.get(RUN_ENV):
                _trainer.open_run(Path(os.environ[RUN_ENV]))
        return _trainer


def current_trainer() -> LiveTrainer | None:
    """The server's trainer if a page has created it, without creating one."""
    return _trainer


def checkpoints_root() -> Path:
    return Path(os.environ.get(CHECKPOINTS_ENV, REPO_CHECKPOINTS))


def presenter_password() -> str | None:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    try:
        value = st.secrets.get("presenter_password")
    except Exception:  # no secrets.toml at all
        return None
    return str(value) if value else None


def can_control(session: MutableMapping[str, Any]) -> bool:
    """Everyone may act when no password is configured (a laptop demo); else presenters only."""
    return presenter_password() is None or bool(session.get(PRESENTER_KEY))


def try_login(session: MutableMapping[str, Any], attempt: str) -> bool:
    expected = presenter_password()
    ok = expected is not None and hmac.compare_digest(attempt.encode(), expected.encode())
    session[PRESENTER_KEY] = ok
    session[NOTICE_KEY] = ("success", "Presenter controls unlocked.") if ok else ("error", "Wrong presenter password.")
    return ok


def run_control(session: MutableMapping[str, Any], action: Callable[[], object], done: str = "") -> bool:
    """Run a control's action if this session may; leave a notice either way. True if it ran."""
    if not can_control(session):
        session[NOTICE_KEY] = ("warning", "View only: the presenter controls this run. Enter the presenter password in the sidebar.")
        return False
    try:
        action()
    except GanAppError as exc:
        session[NOTICE_KEY] = ("error", str(exc))
        return False
    if done:
        session[NOTICE_KEY] = ("info", done)
    return True


def show_notice() -> None:
    """The latest handler's notice, kept on screen for a few seconds across reruns (a state
    change redraws the page right after a click)."""
    fresh = st.session_state.pop(NOTICE_KEY, None)
    if fresh is not None:
        st.session_state[SHOWN_NOTICE_KEY] = (*fresh, time.monotonic() + NOTICE_SECONDS)
    kind, text, until = st.session_state.get(SHOWN_NOTICE_KEY, (None, None, 0.0))
    if text and time.monotonic() < until:
        getattr(st, kind)(text)


def presenter_sidebar() -> None:
    if presenter_password() is None:
        return
    with st.sidebar:
        if st.session_state.get(PRESENTER_KEY):
            st.caption("Presenter mode: you control the run.")
            return
        st.caption("View only. The presenter controls training.")
        with st.form("presenter_login", border=False):
            attempt = st.text_input("Presenter password", type="password")
            if st.form_submit_button("Unlock controls"):
                try_login(st.session_state, attempt)
