"""Import TensorFlow without its C++ start-up log lines (CUDA probing, oneDNN notices), which
TF_CPP_MIN_LOG_LEVEL no longer silences: they would bury the CLI's one-line messages."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_fd_silenced() -> Iterator[None]:
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    with _stderr_fd_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing logs happen here, once
