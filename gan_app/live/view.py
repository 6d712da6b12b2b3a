"""What the live trainer shows of its run: the grids, the curves and the speed, turned into the
immutable snapshots every page and the live channel read. The worker thread alone calls it."""

from __future__ import annotations

import collections
import time

import numpy as np

from gan_app.core.config import METRICS
from gan_app.runs.history import GridSnapshots
from gan_app.runs.run import Run

RATE_WINDOW_S = 5.0  # steps/s on the page: the wall clock over this much recent training
HISTORY_EVERY_S = 1.0  # curves in the snapshot are refreshed at most this often while running


class RunView:
    """The published view of one run (a new one for every run the trainer trains)."""

    def __init__(self) -> None:
        self.history_version = 0  # bumps when the published curves change
        self.history_arrays = (np.zeros(0), np.zeros((0, len(METRICS))))
        self._history_published_at = -1.0
        self.frames = GridSnapshots()
        self.grid_png: bytes | None = None
        self.grid_step = -1
        self.grid_scores: tuple[float, ...] = ()  # D's probability that each grid sample is real
        self.grid_columns = 5
        self._recent: collections.deque[tuple[float, int]] = collections.deque()  # (wall time, step) while running

    def draw_grid(self, run: Run) -> None:
        """The fixed noise batch's grid now (kept as the last good one if G produced NaNs)."""
        images = run.samples01()
        if not np.isfinite(images).all():
            return
        # One pixel per pixel: 16x cheaper to encode and to send than the 4x grid; pages and
        # downloads enlarge it.
        self.grid_png, self.grid_step = run.grid_png(images, scale=1), run.step
        self.grid_scores = tuple(round(float(p), 4) for p in run.judge01(images, run.y_fixed))
        self.grid_columns = run.grid_columns or 5
        self.frames.add(run.step, self.grid_png)

    def trained(self, step: int) -> None:
        """Training reached `step` now (for the wall-clock rate)."""
        now = time.monotonic()
        self._recent.append((now, step))
        while self._recent and now - self._recent[0][0] > RATE_WINDOW_S:
            self._recent.popleft()

    def restart_clock(self) -> None:
        """Training (re)starts: a pause is not training time."""
        self._recent.clear()

    def rate(self, running: bool) -> float:
        """Steps per second of wall-clock time over the recent window: what the class sees Step
        grow by, quality measurements, grids and viewers included."""
        if not running or len(self._recent) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def curves(self, run: Run | None, running: bool) -> tuple[np.ndarray, np.ndarray]:
        """The curves as published: copied at most once a second while running (every viewer's
        charts are drawn from them), at once otherwise."""
        history = run.history if run is not None else None
        now = time.monotonic()
        shown_step = self.history_arrays[0][-1] if len(self.history_arrays[0]) else -1
        if history is not None and len(history) and history.last_step() != shown_step:
            if not running or now - self._history_published_at >= HISTORY_EVERY_S:
                self.history_arrays = history.arrays()
                self.history_version += 1
                self._history_published_at = now
        return self.history_arrays
