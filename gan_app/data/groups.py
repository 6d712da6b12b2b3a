"""Groups of the training images, found without labels, that the `fast` preset trains on.

k-means on the pixels splits the images into groups of look-alikes (mostly one digit drawn one
way). G draws from a group picked by z's first coordinate, each group as often as it occurs in
the data (the coordinate's prior is cut at the groups' cumulative shares), and D judges every
image as a member of its group: of the group G was asked for, for a fake, and of the nearest
group's mean image, for a real one. Told the group, G and D both have less to sort out: the
same networks reach a given quality in about half the steps (docs/experiments.md).

Numpy only: gan_app.models.dcgan keeps the groups (mean images and cut points) as weights of G.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

FIT_IMAGES = 5000  # k-means reads at most this many images (a fixed, seeded subset)
ITERATIONS = 25


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)


def _distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared distances (n, k), without the images' own norms (they do not change the nearest)."""
    return (centroids ** 2).sum(axis=1)[None, :] - 2.0 * x @ centroids.T


def nearest_group(images: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The group (int64, (n,)) whose mean image is nearest each image (same value range)."""
    if len(images) == 0:
        return np.zeros(0, np.int64)
    return np.argmin(_distances(_flat(images), np.asarray(centroids, np.float32)), axis=1).astype(np.int64)


def fit_groups(images: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k groups of `images` (n, 28, 28, 1): their mean images (k, 784) and each group's share
    of all the images (k,), summing to 1. k-means++ starts, Lloyd iterations; a group left empty
    keeps its start. Deterministic for a seed."""
    x = _flat(images)
    if len(x) < k:
        raise ValueError(f"{len(x)} images cannot be split into {k} groups")
    rng = np.random.default_rng(seed)
    fit = x[rng.choice(len(x), FIT_IMAGES, replace=False)] if len(x) > FIT_IMAGES else x
    norms = (fit ** 2).sum(axis=1)
    centroids = np.empty((k, x.shape[1]), np.float32)
    centroids[0] = fit[rng.integers(len(fit))]
    closest = norms + _distances(fit, centroids[:1])[:, 0]
    for j in range(1, k):  # k-means++: a start far from the others is likelier
        weights = np.maximum(closest, 0.0)
        index = rng.choice(len(fit), p=weights / weights.sum()) if weights.sum() > 0 else rng.integers(len(fit))
        centroids[j] = fit[index]
        closest = np.minimum(closest, norms + _distances(fit, centroids[j:j + 1])[:, 0])
    for _ in range(ITERATIONS):
        assigned = np.argmin(_distances(fit, centroids), axis=1)
        for j in range(k):
            members = fit[assigned == j]
            if len(members):
                centroids[j] = members.mean(axis=0)
    counts = np.bincount(nearest_group(images, centroids), minlength=k).astype(np.float64)
    return centroids, counts / counts.sum()


def cut_points(shares: np.ndarray, noise: str) -> np.ndarray:
    """Where z's first coordinate passes from one group to the next (k - 1 values, rising), so
    that a draw from the prior ("normal" or "uniform") lands in each group as often as its share."""
    edges = np.clip(np.cumsum(np.asarray(shares, np.float64))[:-1], 1e-6, 1 - 1e-6)
    if noise == "uniform":
        return (2.0 * edges - 1.0).astype(np.float32)
    normal = NormalDist()
    return np.array([normal.inv_cdf(float(e)) for e in edges], np.float32)


def groups_of_z(z: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """The group each latent's first coordinate picks (int64, (n,)), as G's group layer does."""
    return np.sum(np.asarray(z)[:, :1] > np.asarray(cuts)[None, :], axis=1).astype(np.int64)


def nearest_groups(image: np.ndarray, centroids: np.ndarray, count: int) -> np.ndarray:
    """The `count` groups (int64) whose mean images are nearest one image (same value range),
    nearest first: where a search for that image starts (gan_app.lab.inversion, find.js)."""
    order = np.argsort(_distances(_flat(np.asarray(image)[None]), np.asarray(centroids, np.float32))[0], kind="stable")
    return order[:count].astype(np.int64)


def first_numbers_in(groups: np.ndarray, cuts: np.ndarray, noise: str) -> np.ndarray:
    """z's first number for starts in `groups` (float32, (n,)): inside each one's interval between
    the cuts, the starts of one group spread evenly by the prior's probability (the m starts of
    a group at its quantiles 1/(m+1), ..., m/(m+1))."""
    cuts = np.asarray(cuts, np.float64)
    uniform = noise == "uniform"
    cdf = (lambda x: (x + 1.0) / 2.0) if uniform else NormalDist().cdf
    inverse = (lambda p: 2.0 * p - 1.0) if uniform else NormalDist().inv_cdf
    edges = [0.0, *(cdf(float(c)) for c in cuts), 1.0]  # each group's share of the prior: edges[j] to edges[j + 1]
    groups = np.asarray(groups, np.int64)
    if len(groups) and (groups.min() < 0 or groups.max() > len(cuts)):
        raise ValueError(f"groups run from 0 to {len(cuts)}, not {groups.min()} to {groups.max()}")
    out = np.empty(len(groups), np.float32)
    for j in np.unique(groups):
        rows = np.flatnonzero(groups == j)
        quantiles = edges[j] + (np.arange(1, len(rows) + 1) / (len(rows) + 1)) * (edges[j + 1] - edges[j])
        out[rows] = [inverse(float(q)) for q in quantiles]
    return out
