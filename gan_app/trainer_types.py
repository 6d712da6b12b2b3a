"""What the dashboard's trainer publishes and accepts: its settings and its snapshots.
Plain data, no TensorFlow and no threads, so pages and tests can use them freely."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan_app.config import DEFAULT_PRESET, LOSSES, METRICS, NOISES, get_preset
from gan_app.data import DEFAULT_DATASET
from gan_app.errors import UsageError

STATES = ("idle", "running", "paused", "stopped", "error")
CHUNK_SECONDS = 0.25  # target wall time of one compiled call: short enough for a snappy Pause
LIVE_FIELDS = ("d_lr", "g_lr", "loss", "k")  # apply without a Reset


@dataclass(frozen=True)
class Settings:
    preset: str = DEFAULT_PRESET
    dataset: str = DEFAULT_DATASET
    batch_size: int | None = None  # None: the preset's
    seed: int = 0
    noise: str | None = None  # None: the preset's
    sample_interval: int = 20  # steps between published sample grids
    loss: str = "nonsaturating"
    k: int = 1
    d_lr: float | None = None  # None: the preset's
    g_lr: float | None = None
    quality_every: int = 250  # steps between classifier FID measurements (0: off)
    quality_samples: int = 1000  # generated images per measurement
    checkpoint_every: int = 1000  # steps between automatic checkpoints (0: off)

    def preset_obj(self):
        return get_preset(self.preset).replace(
            batch_size=self.batch_size, noise=self.noise, loss=self.loss, k=self.k, d_lr=self.d_lr, g_lr=self.g_lr
        )

    def validate(self) -> None:
        self.preset_obj()  # raises UsageError naming what is accepted
        if self.sample_interval <= 0:
            raise UsageError(f"sample interval must be > 0, got {self.sample_interval}")
        if self.noise is not None and self.noise not in NOISES:
            raise UsageError(f"unknown noise {self.noise!r}; choose one of: {', '.join(NOISES)}")
        if self.loss not in LOSSES:
            raise UsageError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")


@dataclass(frozen=True)
class Snapshot:
    """What a page renders. Built by the worker; never mutated after publishing."""

    version: int = 0  # one more with every snapshot the trainer publishes
    status: str = "idle"
    message: str = ""  # why it paused, what went wrong, what is happening
    step: int = 0  # training iterations done
    steps_per_s: float = 0.0
    images_per_s: float = 0.0
    elapsed_s: float = 0.0
    device: str = ""
    settings: Settings = field(default_factory=Settings)
    history_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, len(METRICS))))
    history_version: int = 0  # changes whenever history_steps / history change
    grid_png: bytes | None = None
    grid_step: int = -1
    frames: tuple[tuple[int, bytes], ...] = ()
    run_id: int = 0  # changes on Reset, unique in the process: caches keyed by it never show an old run
    weights_version: int = 0  # changes whenever the generator's weights change
    quality_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    quality: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # fid, score, digits covered
    histogram: tuple[float, ...] = ()  # share of each digit in the latest measurement
    quality_note: str = ""  # why quality is not measured, if it is not
    quality_cost: float = 0.0  # share of training time spent measuring quality
    checkpoint_step: int = -1  # step of the latest checkpoint on disk
    generator_weights: Any = None  # a GeneratorWeights copy, refreshed by request_generator()

    def metric(self, name: str) -> np.ndarray:
        return self.history[:, METRICS.index(name)]
