"""Streamlit behaviour that breaks a server which trains in a background thread.

After every script run (each fragment refresh too, so once a second per viewer) Streamlit calls
`keras.backend.clear_session()` (script_runner._clean_problem_modules): a full gc.collect() and a
reset of TensorFlow's kernel cache and Keras' global state underneath the training thread. It
cost the live run two thirds of its speed with one tab open. This app keeps Keras state on
purpose, so the hook is switched off. Checked against the pinned Streamlit version by
tests/test_dashboard.py, which fails loudly if an upgrade moves the hook.
"""

from __future__ import annotations

from streamlit.runtime.scriptrunner import script_runner


def _keep_keras_state() -> None:
    """Replacement for Streamlit's post-run module cleanup: leave Keras and TF alone."""


def keep_keras_state_between_reruns() -> None:
    script_runner._clean_problem_modules = _keep_keras_state


def keras_state_is_kept() -> bool:
    return script_runner._clean_problem_modules is _keep_keras_state
