"""Sample quality a teacher can read: classifier FID, classifier score, and digit coverage.

Pure maths on the shipped reference classifier's outputs (its `QualityMeter` in
gan_app.models.classifier runs the classifier and calls these). FID is the Frechet
distance between the classifier's penultimate-layer features of generated images and of the
1,000 held-out real digits; the matrix square root is done with numpy's eigh.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COVERAGE_SHARE = 0.02  # a digit counts as covered when at least 2% of samples are classified as it


@dataclass(frozen=True)
class Quality:
    fid: float
    score: float  # classifier score (Inception-score analogue): 1 (one class) .. 10 (all, confidently)
    covered: int  # digits with a share >= COVERAGE_SHARE
    histogram: tuple[float, ...]  # share of samples per predicted digit 0..9
    label_accuracy: float | None = None  # of a conditional generator: share read as the digit asked for

    def as_dict(self) -> dict:
        d = asdict(self)
        d["histogram"] = list(self.histogram)
        return d


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), with Tr((S1 S2)^1/2) = Tr((A S2 A)^1/2), A = S1^1/2."""
    a = _sqrtm_psd(s1)
    middle = a @ s2 @ a
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): about 9.8 on real digits, 1 for a single repeated digit."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def class_histogram(probs: np.ndarray) -> np.ndarray:
    return np.bincount(np.argmax(probs, axis=1), minlength=10) / len(probs)


def label_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of images the classifier reads as the digit they were asked to be."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def coverage(histogram: np.ndarray) -> int:
    return int(np.sum(np.asarray(histogram) >= COVERAGE_SHARE))


class QualityLog:
    """Quality measured along a run: (step, fid, score, covered) rows and the latest histogram."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.rows: list[tuple[float, float, int]] = []
        self.histogram: tuple[float, ...] = ()
        self.label_accuracy: float | None = None  # latest, of a conditional generator
        self.seconds = 0.0  # time spent measuring

    def add(self, step: int, q: Quality, seconds: float) -> None:
        self.steps.append(step)
        self.rows.append((q.fid, q.score, q.covered))
        self.histogram = q.histogram
        self.label_accuracy = q.label_accuracy
        self.seconds += seconds

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.steps, dtype=float), np.array(self.rows, dtype=float).reshape(-1, 3)

    def load(self, steps: np.ndarray, rows: np.ndarray, histogram: np.ndarray) -> None:
        self.steps = [int(s) for s in steps]
        self.rows = [tuple(r) for r in rows.reshape(-1, 3)]
        self.histogram = tuple(float(h) for h in histogram)
