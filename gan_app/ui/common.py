"""What every page shares: the presenter lock, and control handlers that enforce it (hiding a
button is not enough: a handler refuses a viewer itself). The server's shared objects (its
trainer, the lab's feed, the class's drawings...) belong to its classroom (gan_app.classroom.room)."""

from __future__ import annotations

import hmac
import math
import os
import time
from typing import Any, Callable, MutableMapping

import streamlit as st

from gan_app.core.errors import GanAppError
from gan_app.live.trainer import LiveTrainer
from gan_app.classroom.room import classroom
from gan_app.classroom.logins import LoginLimiter

PASSWORD_ENV = "GAN_APP_PRESENTER_PASSWORD"
PRESENTER_KEY = "presenter"  # session_state flag: this session entered the password
NOTICE_KEY = "notice"  # session_state: (kind, text) left by a handler
SHOWN_NOTICE_KEY = "notice_shown"  # session_state: (kind, text, monotonic time it stops showing)
NOTICE_SECONDS = 8.0


def get_trainer() -> LiveTrainer:
    """The server's one trainer, shared by every viewer and by the live channel (made on first
    use: see Classroom.trainer)."""
    return classroom().trainer()


def current_trainer() -> LiveTrainer | None:
    """The server's trainer if a page has created it, without creating one."""
    return classroom().current_trainer()


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




def client_key() -> str:
    """The address this session's tab connects from ("this machine" for a loopback one)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "this machine"


def login_wait(client: str, now: float | None = None, limiter: LoginLimiter | None = None) -> float:
    """Seconds until `client` may try the presenter password again (0: now)."""
    limiter = limiter if limiter is not None else classroom().logins
    return limiter.wait(client, time.monotonic() if now is None else now)


def try_login(session: MutableMapping[str, Any], attempt: str, client: str, now: float | None = None,
              limiter: LoginLimiter | None = None) -> bool:
    """Check a presenter password from a session of `client` (its address), within the limits
    of LoginLimiter, so guessing from a tab, or from many fresh ones, is slow. The right password
    clears the address's count. `now` is time.monotonic() unless given."""
    now = time.monotonic() if now is None else now
    limiter = limiter if limiter is not None else classroom().logins
    wait = limiter.wait(client, now)
    if wait > 0:
        session[NOTICE_KEY] = ("error", f"Too many wrong presenter passwords: try again in {math.ceil(wait)} s.")
        return False
    expected = presenter_password()
    ok = expected is not None and hmac.compare_digest(attempt.encode(), expected.encode())
    session[PRESENTER_KEY] = ok
    if ok:
        limiter.succeeded(client)
        session[NOTICE_KEY] = ("success", "Presenter controls unlocked.")
        return True
    lock = limiter.failed(client, now)
    if not lock:
        session[NOTICE_KEY] = ("error", "Wrong presenter password.")
        return False
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
        wait = login_wait(client_key())
        if wait > 0:
            st.caption(f"Too many wrong passwords: the next try is checked in {math.ceil(wait)} s.")
        with st.form("presenter_login", border=False):
            attempt = st.text_input("Presenter password", type="password")
            if st.form_submit_button("Unlock controls"):
                try_login(st.session_state, attempt, client_key())
