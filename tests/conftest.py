import os
import tempfile
import time

# Tests never touch the network: downloads are refused, TensorFlow stays quiet.
os.environ["GAN_APP_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The dashboard's live run and exports go to a scratch folder, never the repository's checkpoints/.
os.environ["GAN_APP_CHECKPOINTS"] = tempfile.mkdtemp(prefix="gan-app-checkpoints-")

import numpy as np
import pytest

from gan_app.core.config import get_preset
from gan_app.data.datasets import load_dataset, scale_to_range


@pytest.fixture(scope="session")
def mnist5k():
    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def fast_images(mnist5k):
    p = get_preset("fast")
    return scale_to_range(mnist5k.x, p.output_min, p.output_max)


def weights_of(model):
    """Copies of every weight, trainable or not, keyed by path."""
    return {v.path: np.array(v.numpy()) for v in model.weights}


def wait_for(predicate, timeout=60.0):
    """Poll until `predicate()` holds (a background thread's state); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
