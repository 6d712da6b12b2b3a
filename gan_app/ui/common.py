"""What every page shares: the server's one Trainer, the presenter lock, and control handlers
that enforce it (hiding a button is not enough: a handler refuses a viewer itself)."""

from __future__ import annotations

import hmac
import math
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
LOGIN_FAILURES_KEY = "login_failures"  # session_state: wrong presenter passwords in a row
LOGIN_UNTIL_KEY = "login_until"  # session_state: monotonic time before which no try is checked
FREE_ATTEMPTS = 3  # wrong presenter passwords a session may enter before it has to wait
LOCK_FIRST_S, LOCK_MAX_S = 10.0, 300.0  # the first wait, doubled on every further wrong one, and its cap


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


def login_wait(session: MutableMapping[str, Any], now: float | None = None) -> float:
    """Seconds until this session may try the presenter password again (0: now)."""
    until = float(session.get(LOGIN_UNTIL_KEY, 0.0))
    return max(0.0, until - (time.monotonic() if now is None else now))


def try_login(session: MutableMapping[str, Any], attempt: str, now: float | None = None) -> bool:
    """Check a presenter password. After FREE_ATTEMPTS wrong ones in a row a session waits
    LOCK_FIRST_S seconds before its next try is even checked, twice as long after every further
    wrong one (at most LOCK_MAX_S), so guessing from a tab is slow. The right password clears
    the count. `now` is time.monotonic() unless given."""
    now = time.monotonic() if now is None else now
    wait = login_wait(session, now)
    if wait > 0:
        session[NOTICE_KEY] = ("error", f"Too many wrong presenter passwords: try again in {math.ceil(wait)} s.")
        return False
    expected = presenter_password()
    ok = expected is not None and hmac.compare_digest(attempt.encode(), expected.encode())
    session[PRESENTER_KEY] = ok
    if ok:
        session[LOGIN_FAILURES_KEY] = 0
        session[NOTICE_KEY] = ("success", "Presenter controls unlocked.")
        return True
    failures = int(session.get(LOGIN_FAILURES_KEY, 0)) + 1
    session[LOGIN_FAILURES_KEY] = failures
    if failures < FREE_ATTEMPTS:
        session[NOTICE_KEY] = ("error", "Wrong presenter password.")
        return False
    lock = min(LOCK_MAX_S, LOCK_FIRST_S * 2 ** (failures - FREE_ATTEMPTS))
    session[LOGIN_UNTIL_KEY] = now + lock
    session[NOTICE_KEY] = ("error", f"Wrong presenter password. Too many wrong tries: the next one in {lock:g} s.")
    return False


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
        wait = login_wait(st.session_state)
        if wait > 0:
            st.caption(f"Too many wrong passwords: the next try is checked in {math.ceil(wait)} s.")
        with st.form("presenter_login", border=False):
            attempt = st.text_input("Presenter password", type="password")
            if st.form_submit_button("Unlock controls"):
                try_login(st.session_state, attempt)
