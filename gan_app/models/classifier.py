"""The reference digit classifier behind the quality metrics, shipped in the package.

A small CNN trained on the mnist5k sample with a fixed split: for each digit, the first 400
images (in file order) train it and the last 100 are held out; the held-out 1,000 are the real
images every FID is measured against. `python -m gan_app train-classifier` rebuilds it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import keras
import numpy as np
from keras import layers

from gan_app.data.datasets import Dataset, load_dataset
from gan_app.core.errors import GanAppError
from gan_app.models.quality import (
    Quality,
    class_histogram,
    classifier_score,
    coverage,
    feature_stats,
    frechet_distance,
    label_accuracy,
)

CLASSIFIER_PATH = Path(__file__).parents[1] / "data" / "classifier.keras"
CLASSIFIER_INFO = Path(__file__).parents[1] / "data" / "classifier.json"
TRAIN_PER_CLASS = 400  # the rest of each class (100) is held out
FEATURES_LAYER = "features"  # penultimate layer: the FID feature space


def split(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held_out) of the fixed, documented split of mnist5k."""
    train, held = [], []
    for digit in range(10):
        idx = np.flatnonzero(ds.y == digit)
        train.append(idx[:TRAIN_PER_CLASS])
        held.append(idx[TRAIN_PER_CLASS:])
    return np.concatenate(train), np.concatenate(held)


def build_classifier():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.4),
            layers.Dense(128, activation="relu", name=FEATURES_LAYER),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digit_classifier",
    )


def train_classifier(epochs: int = 15, seed: int = 0, out: Path = CLASSIFIER_PATH) -> dict:
    """Train on the 4,000-image split and save; returns {"held_out_accuracy", ...}."""
    from gan_app.core.files import atomic_write_json, save_model_atomic

    keras.utils.set_random_seed(seed)
    ds = load_dataset("mnist5k")
    train_idx, held_idx = split(ds)
    model = build_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = ds.x[train_idx], ds.y[train_idx]
    # light augmentation: one-pixel shifts make 4,000 digits go further
    shifted = [np.roll(x, s, axis=a) for a in (1, 2) for s in (-1, 1)]
    x_aug, y_aug = np.concatenate([x, *shifted]), np.concatenate([y] * 5)
    model.fit(x_aug, y_aug, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    _, accuracy = model.evaluate(ds.x[held_idx], ds.y[held_idx], verbose=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    shipped = build_classifier()  # weights only: no optimizer state in the package
    shipped.set_weights(model.get_weights())
    save_model_atomic(shipped, out)
    info = {
        "held_out_accuracy": round(float(accuracy), 4),
        "train_images": int(len(train_idx)),
        "held_out_images": int(len(held_idx)),
        "epochs": epochs,
        "seed": seed,
        "command": f"python -m gan_app train-classifier --epochs {epochs} --seed {seed}",
    }
    info.update(real_floor(shipped))
    atomic_write_json(out.with_suffix(".json"), info)
    return info


def real_floor(model) -> dict:
    """FID and score of the 4,000 training-split digits against the held-out 1,000: the best a
    generator can expect under this classifier."""
    q = QualityMeter(model).real_floor()
    return {"real_floor_fid": q.fid, "real_score": q.score}


def load_classifier(path: Path = CLASSIFIER_PATH):
    if not path.is_file():
        raise GanAppError(f"reference classifier {path} is missing; rebuild it with python -m gan_app train-classifier")
    return keras.models.load_model(path, safe_mode=True)


def classifier_info() -> dict:
    return json.loads(CLASSIFIER_INFO.read_text()) if CLASSIFIER_INFO.is_file() else {}


class QualityMeter:
    """Measures generated images against the held-out real digits, with the real statistics
    computed once. Images are float in [0, 1], (N, 28, 28, 1)."""

    def __init__(self, classifier=None) -> None:
        self.classifier = classifier or load_classifier()
        self._both = keras.Model(
            self.classifier.inputs[0], [self.classifier.get_layer(FEATURES_LAYER).output, self.classifier.outputs[0]]
        )
        ds = load_dataset("mnist5k")
        train_idx, held_idx = split(ds)
        self.real_images = ds.x[held_idx]
        self.real_labels = ds.y[held_idx]
        self._train_images = ds.x[train_idx]
        feats, _ = self.features_and_probs(self.real_images)
        self.real_mu, self.real_sigma = feature_stats(feats)

    def features_and_probs(self, images01: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
        feats, probs = [], []
        for i in range(0, len(images01), batch):
            f, p = self._both(np.asarray(images01[i : i + batch], np.float32), training=False)
            feats.append(np.asarray(f))
            probs.append(np.asarray(p))
        return np.concatenate(feats), np.concatenate(probs)

    def measure(self, images01: np.ndarray, labels: np.ndarray | None = None) -> Quality:
        """Quality of generated images; with `labels` (the digits a conditional generator was
        asked for) also the share the classifier reads as that digit."""
        feats, probs = self.features_and_probs(images01)
        hist = class_histogram(probs)
        fid = frechet_distance(*feature_stats(feats), self.real_mu, self.real_sigma)
        accuracy = None if labels is None else round(label_accuracy(probs, labels), 4)
        return Quality(fid=round(fid, 3), score=round(classifier_score(probs), 3), covered=coverage(hist),
                       histogram=tuple(round(float(h), 4) for h in hist), label_accuracy=accuracy)

    def real_floor(self) -> Quality:
        """The 4,000 training-split digits measured like generated ones: the best FID to expect."""
        return self.measure(self._train_images)

    def accuracy(self) -> float:
        _, probs = self.features_and_probs(self.real_images)
        return float(np.mean(np.argmax(probs, axis=1) == self.real_labels))


_shared: list[QualityMeter] = []
_shared_lock = threading.Lock()


def shared_meter() -> QualityMeter:
    """One meter for the process: the classifier and the real digits' statistics load once, for
    the live run's quality and the latent lab's digit labels alike."""
    with _shared_lock:
        if not _shared:
            _shared.append(QualityMeter())
        return _shared[0]
