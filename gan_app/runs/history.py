"""Bounded-resolution history of per-step metrics and sample grids, so a run of a million
steps costs the page no more than a run of a thousand."""

from __future__ import annotations

import numpy as np


class MetricHistory:
    """Rows of metrics against step. Past `max_points` rows, adjacent rows are averaged in
    pairs and each later row stands for twice as many steps (like TensorBoard's downsampling,
    but deterministic)."""

    def __init__(self, n_columns: int, max_points: int = 4000) -> None:
        self.n_columns, self.max_points = n_columns, max_points
        self.stride = 1  # steps per stored row
        self._steps: list[float] = []
        self._rows: list[np.ndarray] = []
        self._pending: list[tuple[int, np.ndarray]] = []

    def append(self, first_step: int, rows: np.ndarray) -> None:
        for j, row in enumerate(np.asarray(rows, np.float64).reshape(-1, self.n_columns)):
            self._pending.append((first_step + j, row))
            if len(self._pending) == self.stride:
                self._steps.append(self._pending[-1][0])
                self._rows.append(np.mean([r for _, r in self._pending], axis=0))
                self._pending = []
        if len(self._rows) > self.max_points:
            self._halve()

    def _halve(self) -> None:
        pairs = len(self._rows) // 2
        self._steps = [self._steps[2 * i + 1] for i in range(pairs)] + self._steps[2 * pairs :]
        self._rows = [(self._rows[2 * i] + self._rows[2 * i + 1]) / 2 for i in range(pairs)] + self._rows[2 * pairs :]
        if len(self._rows) % 2:  # a leftover odd row becomes pending so buckets stay aligned
            last = self._rows.pop()
            self._pending = [(self._steps.pop(), last)] * self.stride + self._pending
        self.stride *= 2

    def __len__(self) -> int:
        return len(self._rows)

    def last_step(self) -> float:
        """Step of the latest stored row (-1 when empty)."""
        return self._steps[-1] if self._steps else -1

    def load(self, steps: np.ndarray, rows: np.ndarray, stride: int) -> None:
        """Continue from saved arrays (a resumed run keeps its curves)."""
        self._steps = [float(s) for s in steps]
        self._rows = [np.asarray(r, np.float64) for r in rows.reshape(-1, self.n_columns)]
        self.stride, self._pending = int(stride), []

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps (n,), rows (n, n_columns)): copies, safe to hand to another thread."""
        if not self._rows:
            return np.zeros(0), np.zeros((0, self.n_columns))
        return np.array(self._steps), np.array(self._rows)


class GridSnapshots:
    """PNG grids saved along the run (for the history slider and the progress GIF), at most
    `max_frames`: when full, every other frame is dropped and saving happens half as often."""

    def __init__(self, max_frames: int = 120) -> None:
        self.max_frames = max_frames
        self.every = 1  # keep one offered frame in `every`
        self._offered = 0
        self.frames: list[tuple[int, bytes]] = []

    def add(self, step: int, png: bytes) -> None:
        self._offered += 1
        if (self._offered - 1) % self.every:
            return
        self.frames.append((step, png))
        if len(self.frames) > self.max_frames:
            self.frames = self.frames[::2]
            self.every *= 2
