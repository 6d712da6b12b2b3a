"""Latent-space maths for the latent lab: plain functions on numpy arrays and a generator.

- lerp / slerp / interpolate / walk: paths between latent points (slerp keeps them at a typical
  norm: the linear midpoint of two 100-d N(0,1) vectors has norm ~7, far inside the ~10 shell).
- sefa_directions: closed-form directions from the generator's first Dense kernel (SeFa).
- pca_directions: GANSpace-style PCA of first-layer activations, mapped back to z.
- class_directions: "towards digit k" = mean(z | labeller says k) - mean(z), for any labeller.
- analogy_grid: a - b + c with the 3x3 grid between the corners.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from gan_app.core.config import Preset

Labeller = Callable[[np.ndarray], np.ndarray]  # images in [0, 1] (N,28,28,1) -> class probabilities (N, K)
Sampler = Callable[[np.ndarray], np.ndarray]  # latents (N, d) -> images in [0, 1] (N, 28, 28, 1)


def sample_prior(rng: np.random.Generator, n: int, latent_dim: int, noise: str) -> np.ndarray:
    """n latents from the prior, float32 (n, latent_dim): N(0, 1), or U(-1, 1) for noise == "uniform"."""
    if noise == "uniform":
        return rng.uniform(-1.0, 1.0, (n, latent_dim)).astype(np.float32)
    return rng.standard_normal((n, latent_dim)).astype(np.float32)


def fixed_noise(preset: Preset, seed: int, n: int = 25) -> np.ndarray:
    """The one noise batch every sample grid of a run is drawn from."""
    return sample_prior(np.random.default_rng([seed, 25]), n, preset.latent_dim, preset.noise)


def grid_latents(preset: Preset, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A run's sample grid: its fixed noise, row by row, and the digit of each sample (None for an
    unconditional preset). A conditional grid is 5 rows of 0-9, one column per digit."""
    k = preset.num_classes
    z = fixed_noise(preset, seed, 5 * k if k else 25)
    return z, (np.arange(len(z)) % k if k else None)


def quality_noise(latent_dim: int, noise: str, seed: int, n: int) -> np.ndarray:
    """The fixed latents a run's quality is measured on, so a recorded FID can be reproduced
    (from an export's meta.json too: its latent_dim, noise and seed)."""
    return sample_prior(np.random.default_rng([seed, 7]), n, latent_dim, noise)


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1.0 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """sin((1-t)W)/sin W * a + sin(tW)/sin W * b, W the angle between a and b (lerp when parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    return (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(points: Sequence[np.ndarray], steps: int, method: str = "slerp") -> np.ndarray:
    """`steps` latents per leg through two or more points, endpoints included once: (n, d)."""
    if len(points) < 2:
        raise ValueError("interpolation needs at least two points")
    if steps < 2:
        raise ValueError("interpolation needs at least two steps")
    fn = slerp if method == "slerp" else lerp
    path = []
    for a, b in zip(points[:-1], points[1:]):
        ts = np.linspace(0.0, 1.0, steps)
        path.extend(fn(a, b, t) for t in (ts if not path else ts[1:]))
    return np.asarray(path, np.float32)


def walk(points: Sequence[np.ndarray], frames_per_leg: int, method: str = "slerp") -> np.ndarray:
    """A loop through three or more points, back to the first: the frames of a latent-walk GIF."""
    if len(points) < 3:
        raise ValueError("a walk needs at least three points")
    loop = interpolate(list(points) + [points[0]], frames_per_leg + 1, method)
    return loop[:-1]  # the last frame equals the first


def sefa_directions(first_dense_kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SeFa: eigenvectors of A^T A for the first layer y = A z (Keras stores A^T as its kernel).
    Returns (directions (k, d) orthonormal rows, eigenvalues (k,)), strongest first."""
    a_t = np.asarray(first_dense_kernel, np.float64)  # (latent_dim, units)
    values, vectors = np.linalg.eigh(a_t @ a_t.T)
    order = np.argsort(values)[::-1]
    return vectors[:, order].T.astype(np.float32), values[order]


def pca_directions(z: np.ndarray, activations: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace: PCA of early activations over many samples; each component is mapped back to
    z by least squares and normalised. Returns (directions (k, d), explained variance ratio (k,))."""
    x = np.asarray(activations, np.float64).reshape(len(activations), -1)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    variance = s**2 / max(len(x) - 1, 1)
    k = min(k, len(s))
    coords = x @ vt[:k].T  # (N, k): each sample's coordinate along each activation component
    zc = np.asarray(z, np.float64) - np.mean(z, axis=0)
    u, *_ = np.linalg.lstsq(coords, zc, rcond=None)  # (k, d): z ~ coords @ u
    u /= np.linalg.norm(u, axis=1, keepdims=True) + 1e-12
    return u.astype(np.float32), variance[:k] / variance.sum()


def pca_directions_linear(z: np.ndarray, inputs: np.ndarray, kernel: np.ndarray,
                          k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """pca_directions for activations that are linear in the layer's inputs (a Dense layer:
    inputs @ kernel + bias), without forming them: centred activations are A @ W with A the
    centred inputs, so with A = QR their SVD is Q times the SVD of the small R @ W. Same result,
    a few milliseconds instead of seconds (2,000 x 3,136 activations)."""
    a = np.asarray(inputs, np.float64)
    a = a - a.mean(axis=0)
    q, r = np.linalg.qr(a)
    u_small, s, vt = np.linalg.svd(r @ np.asarray(kernel, np.float64), full_matrices=False)
    variance = s**2 / max(len(a) - 1, 1)
    k = min(k, len(s))
    coords = (q @ u_small[:, :k]) * s[:k]  # == centred activations @ vt[:k].T
    zc = np.asarray(z, np.float64) - np.mean(z, axis=0)
    u, *_ = np.linalg.lstsq(coords, zc, rcond=None)
    u /= np.linalg.norm(u, axis=1, keepdims=True) + 1e-12
    return u.astype(np.float32), variance[:k] / variance.sum()


def class_directions(z: np.ndarray, probs: np.ndarray, min_count: int = 5) -> dict[int, np.ndarray]:
    """For each class k the labeller assigns at least `min_count` samples to:
    mean(z | argmax = k) - mean(z) (plat / InterFaceGAN's simplest class direction)."""
    labels = np.argmax(probs, axis=1)
    mean = z.mean(axis=0)
    return {int(k): (z[labels == k].mean(axis=0) - mean).astype(np.float32)
            for k in np.unique(labels) if np.sum(labels == k) >= min_count}


def analogy_grid(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """3x3 latents: corners a (top left), b (top right), c (bottom left) and a - b + c (bottom
    right), the rest bilinear in between. Returns (9, d), row by row."""
    d = a - b + c
    rows = []
    for v in (0.0, 0.5, 1.0):
        for u in (0.0, 0.5, 1.0):
            rows.append((1 - u) * (1 - v) * a + u * (1 - v) * b + (1 - u) * v * c + u * v * d)
    return np.asarray(rows, np.float32)


def sigma_strip(z: np.ndarray, direction: np.ndarray, sigmas: Sequence[float] = (-3, -2, -1, 0, 1, 2, 3)) -> np.ndarray:
    """z moved along a unit direction by each sigma: what the direction does, before dragging it."""
    unit = direction / (np.linalg.norm(direction) + 1e-12)
    return np.asarray([z + s * unit for s in sigmas], np.float32)
