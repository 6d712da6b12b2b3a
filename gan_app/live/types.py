"""What the dashboard's live trainer publishes and accepts: its snapshots, and which control is
allowed in which state (one table, used by the trainer and by the page's buttons). Plain data,
no TensorFlow and no threads, so pages and tests can use them freely."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from gan_app.core.config import METRICS, RunConfig

STATES = ("idle", "running", "paused", "stopped", "error", "offline")  # offline: a replica's trainer is not heard
CHUNK_SECONDS = 0.25  # target wall time of one compiled call: short enough for a snappy Pause
GRID_MIN_S, GRID_MAX_S = 0.25, 1.0  # live grids: at most 4 a second, at least one a second while training
LIVE_FIELDS = ("d_lr", "g_lr", "loss", "k")  # apply without a Reset
NOT_RUNNING = ("idle", "paused", "stopped", "error")
# control -> the states it acts in; in any other state the trainer ignores it and the page
# disables its button
ALLOWED: dict[str, tuple[str, ...]] = {
    "start": ("idle", "stopped", "error"),
    "pause": ("running",),
    "resume": ("paused",),
    "stop": ("running", "paused"),
    "reset": STATES,
    "step": NOT_RUNNING,
    "slow": NOT_RUNNING,  # one sub-step of an iteration in slow motion
    "open_run": NOT_RUNNING,
}


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
    config: RunConfig = field(default_factory=RunConfig)
    run_dir: Path | None = None  # where the run keeps its files and checkpoints
    grid_every: int = 20  # steps between live grids
    history_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, len(METRICS))))
    history_version: int = 0  # changes whenever history_steps / history change
    grid_png: bytes | None = None
    grid_step: int = -1
    grid_scores: tuple[float, ...] = ()  # D's probability that each grid sample is real, row by row
    grid_columns: int = 5  # 5 rows of 5, or of 10 (a conditional run: one column per digit)
    frames: tuple[tuple[int, bytes], ...] = ()
    run_id: int = 0  # changes on Reset, unique in the process: caches keyed by it never show an old run
    weights_version: int = 0  # changes whenever the generator's weights change
    quality_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    quality: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # fid, score, digits covered
    histogram: tuple[float, ...] = ()  # share of each digit in the latest measurement
    label_accuracy: float | None = None  # of a conditional run: share of samples read as the digit asked for
    quality_note: str = ""  # why quality is not measured, if it is not
    quality_cost: float = 0.0  # share of training time spent measuring quality
    checkpoint_step: int = -1  # step of the latest checkpoint on disk
    slowmo: dict | None = None  # the latest slow-motion sub-step (gan_app.train.slowmo.Frame.to_json), while not running
    made_at: float = 0.0  # wall clock when the trainer built it (a replica's tab can tell how late it is)

    def metric(self, name: str) -> np.ndarray:
        return self.history[:, METRICS.index(name)]

    def allows(self, control: str) -> bool:
        return self.status in ALLOWED[control]
