"""What every page shares: the server's one Trainer, the presenter lock, and control handlers
that enforce it (hiding a button is not enough: a handler refuses a viewer itself)."""

from __future__ import annotations

import hmac
import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, MutableMapping

import streamlit as st

from gan_app.broker import broker_url
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
FREE_ATTEMPTS = 3  # wrong presenter passwords an address may enter before it has to wait
LOGIN_ADDRESSES = 4096  # client addresses whose wrong passwords are remembered
LOCK_FIRST_S, LOCK_MAX_S = 10.0, 300.0  # the first wait, doubled on every further wrong one, and its cap


_trainer: LiveTrainer | None = None
_trainer_lock = threading.Lock()


def get_trainer() -> LiveTrainer:
    """One trainer per server process, shared by every viewer and by the live channel, which
    serves outside any script run (so not in st.cache_resource; "Clear cache" cannot drop it
    either). GAN_APP_PRESET picks the preset a fresh server starts with (default: fast);
    GAN_APP_RUN=DIR opens the run saved in DIR (by the CLI or a dashboard) instead, paused.
    With GAN_APP_BROKER (a replica) it is the class's trainer in its own process, seen through
    the broker (gan_app.broker.remote): this server never trains."""
    global _trainer
    with _trainer_lock:
        if _trainer is None or _trainer.closed:
            url = broker_url()
            if url is not None:
                from gan_app.broker.remote import RemoteTrainer

                _trainer = RemoteTrainer(url)  # type: ignore[assignment]  # the same commands and snapshot()
                return _trainer
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


class LoginLimiter:
    """Wrong presenter passwords counted per client address, for the whole server: a reload, a
    fresh session or a new websocket does not start the count again. After FREE_ATTEMPTS wrong
    ones in a row an address waits LOCK_FIRST_S seconds before its next try is even checked,
    twice as long after every further wrong one (at most LOCK_MAX_S). At most `kept` addresses
    are remembered (the oldest are forgotten first)."""

    def __init__(self, kept: int = LOGIN_ADDRESSES) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        self._by_client: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (failures, until)

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` may try again (0: now)."""
        with self._lock:
            return max(0.0, self._by_client.get(client, (0, 0.0))[1] - now)

    def failed(self, client: str, now: float) -> float:
        """Count a wrong password; the seconds `client` must now wait (0 while tries are free)."""
        with self._lock:
            failures = self._by_client.pop(client, (0, 0.0))[0] + 1
            lock = 0.0 if failures < FREE_ATTEMPTS else min(LOCK_MAX_S, LOCK_FIRST_S * 2 ** (failures - FREE_ATTEMPTS))
            self._by_client[client] = (failures, now + lock)
            while len(self._by_client) > self.kept:
                self._by_client.popitem(last=False)
            return lock

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._by_client.pop(client, None)

    def clear(self) -> None:
        with self._lock:
            self._by_client.clear()


LOGINS = LoginLimiter()  # one for the server: every session of an address shares its count


def client_key() -> str:
    """The address this session's tab connects from ("this machine" for a loopback one)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "this machine"


def login_wait(client: str, now: float | None = None, limiter: LoginLimiter = LOGINS) -> float:
    """Seconds until `client` may try the presenter password again (0: now)."""
    return limiter.wait(client, time.monotonic() if now is None else now)


def try_login(session: MutableMapping[str, Any], attempt: str, client: str, now: float | None = None,
              limiter: LoginLimiter = LOGINS) -> bool:
    """Check a presenter password from a session of `client` (its address), within the limits
    of LoginLimiter, so guessing from a tab, or from many fresh ones, is slow. The right password
    clears the address's count. `now` is time.monotonic() unless given."""
    now = time.monotonic() if now is None else now
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
