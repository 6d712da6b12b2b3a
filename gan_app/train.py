"""Headless training: the tutorial's gan_train(epoch, batch_size, saving_interval), done properly.

Writes into one run directory:
  metrics.csv              header, then one row per step (step, seconds, METRICS...)
  samples/step_XXXXXX.png  5x5 grid from one fixed noise batch, every saving_interval steps
  generator.keras          the trained generator (loads with safe_mode=True)
  meta.json                written last and atomically: a run without it is not finished
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

from gan_app.config import Preset
from gan_app.data import Dataset, scale_to_range, to_unit_range
from gan_app.errors import GanAppError, UsageError
from gan_app.files import atomic_write_bytes, atomic_write_json, ensure_writable_dir, save_model_atomic
from gan_app.images import grid_png
from gan_app.step import METRICS, make_step, sample_noise

CSV_HEADER = ("step", "seconds") + METRICS
CHUNK = 10  # steps per compiled call between progress updates


class TrainingDiverged(GanAppError):
    """A loss became NaN or Inf."""


@dataclass(frozen=True)
class RunSpec:
    preset: Preset  # with CLI overrides applied (batch size, ...)
    dataset: Dataset
    steps: int
    saving_interval: int
    out: Path
    seed: int = 0
    mode: str = "fused"
    command: str = ""

    def validate(self) -> None:
        if self.steps <= 0:
            raise UsageError(f"--steps must be > 0, got {self.steps}")
        if self.saving_interval <= 0:
            raise UsageError(f"--saving-interval must be > 0, got {self.saving_interval}")
        if self.preset.batch_size > len(self.dataset):
            raise UsageError(
                f"batch size {self.preset.batch_size} is larger than dataset {self.dataset.name!r} "
                f"({len(self.dataset)} images); pass --batch-size of at most {len(self.dataset)}"
            )


def fixed_noise(preset: Preset, seed: int, n: int = 25) -> np.ndarray:
    """The one noise batch every sample grid of a run is drawn from."""
    return sample_noise(np.random.default_rng([seed, 25]), n, preset)


def run_meta(spec: RunSpec, steps_done: int) -> dict:
    p = spec.preset
    return {
        "preset": p.name,
        "dataset": spec.dataset.name,
        "steps": steps_done,
        "batch_size": p.batch_size,
        "latent_dim": p.latent_dim,
        "noise": p.noise,
        "output_min": p.output_min,
        "output_max": p.output_max,
        "seed": spec.seed,
        "mode": spec.mode,
        "loss": p.loss,
        "k": p.k,
        "d_lr": p.d_lr,
        "g_lr": p.g_lr,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": spec.command,
    }


def gan_train(spec: RunSpec, progress: Callable[[int, int, np.ndarray, float], None] | None = None) -> Path:
    """Train and write the run directory; returns its path. Raises GanAppError subclasses."""
    spec.validate()
    out = ensure_writable_dir(spec.out)
    (out / "meta.json").unlink(missing_ok=True)  # an earlier run's meta would make this one look finished
    (out / "samples").mkdir(exist_ok=True)
    p = spec.preset
    step = make_step(spec.mode, p, scale_to_range(spec.dataset.x, p.output_min, p.output_max), spec.seed)
    z_fixed = fixed_noise(p, spec.seed)
    t0 = time.perf_counter()
    last_t = 0.0
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        i = 0
        while i < spec.steps:
            to_save = -i % spec.saving_interval  # steps before the next iteration with i % K == 0
            n = min(CHUNK, spec.steps - i, to_save + 1)
            rows = step.train(n)
            now = time.perf_counter() - t0
            for j, row in enumerate(rows):
                writer.writerow([i + j, f"{last_t + (now - last_t) * (j + 1) / n:.3f}"] + [f"{v:.6g}" for v in row])
            last_t = now
            if not np.isfinite(rows).all():
                f.flush()
                bad = i + int(np.argmax(~np.isfinite(rows).all(axis=1)))
                raise TrainingDiverged(f"training diverged at step {bad}: a loss became NaN or Inf; try a lower learning rate")
            i += n
            if (i - 1) % spec.saving_interval == 0:  # the tutorial saves after iteration i when i % K == 0
                images = to_unit_range(step.generate(z_fixed), p.output_min, p.output_max)
                atomic_write_bytes(out / "samples" / f"step_{i - 1:06d}.png", grid_png(images))
            if progress:
                progress(i, spec.steps, rows[-1], now)
    save_model_atomic(step.generator, out / "generator.keras")
    atomic_write_json(out / "meta.json", run_meta(spec, spec.steps))
    return out


class ProgressBar:
    """One updating line like the tutorial's print('epoch:%d' % i, ' d_loss:%.4f' ...)."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self._last_print = -1.0

    def __call__(self, i: int, total: int, row: np.ndarray, seconds: float) -> None:
        done = i == total
        if not done and seconds - self._last_print < (0.2 if self.tty else 10.0):
            return
        self._last_print = seconds
        filled = int(self.width * i / total)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {i}/{total}  "
            f"d_loss:{row[0]:.4f}  g_loss:{row[3]:.4f}  {i / max(seconds, 1e-9):.1f} it/s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if done and self.tty:
            self.stream.write("\n")
        self.stream.flush()
