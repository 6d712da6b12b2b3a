"""The command line's driver of a run: `python -m gan_app train`, the tutorial's
gan_train(epoch, batch_size, saving_interval) done properly.

Above the run layer (gan_app.runs.run: metrics.csv, quality.csv, samples/, state/) it adds a progress
line, TensorBoard logs (`logs/`) and, at the end, a final checkpoint and the run layer's export:
`generator.keras`, `discriminator.keras` and `meta.json`, written last and atomically: a run
directory without meta.json is not finished. A run trained here continues in the dashboard
(GAN_APP_RUN=DIR) and the other way round.

A new run never goes into a folder that holds one (that is what `--resume` is for), and the
process holds the run directory's writer lock (gan_app.runs.lock) from before its first write to
after its last, so a second `train --resume` or a dashboard cannot interleave with it.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

import numpy as np
import tensorflow as tf

from gan_app.core.config import METRICS, RunConfig
from gan_app.core.errors import GanAppError, UsageError
from gan_app.core.files import ensure_writable_dir
from gan_app.models.quality import Quality
from gan_app.data.datasets import Dataset, load_dataset
from gan_app.runs.run import Run, check_dataset, read_run_config
from gan_app.runs.dirs import check_new_run_dir
from gan_app.runs.lock import RunLock, check_free

CHUNK = 10  # steps per compiled call between progress updates
RESUME_OVERRIDES = ("batch_size", "sample_interval", "quality_every", "quality_samples", "checkpoint_every")


class TrainingDiverged(GanAppError):
    """A loss became NaN or Inf."""


class TensorBoard:
    """Every metric, FID, score and sample grid of a run, for `tensorboard --logdir`."""

    def __init__(self, logdir: Path) -> None:
        self.writer = tf.summary.create_file_writer(str(logdir))

    def on_rows(self, first_step: int, rows: np.ndarray) -> None:
        with self.writer.as_default():
            for j, row in enumerate(rows):
                for name, value in zip(METRICS, row):
                    tf.summary.scalar(name, float(value), step=first_step + j)

    def on_samples(self, step: int, images01: np.ndarray) -> None:
        with self.writer.as_default():
            tf.summary.image("samples", images01[:25], step=step, max_outputs=25)

    def on_quality(self, step: int, q: Quality) -> None:
        with self.writer.as_default():
            tf.summary.scalar("quality/fid", q.fid, step=step)
            tf.summary.scalar("quality/score", q.score, step=step)
            tf.summary.scalar("quality/digits_covered", q.covered, step=step)

    def close(self) -> None:
        self.writer.close()


def resume_config(run_dir: Path, **overrides: object) -> tuple[RunConfig, list[str]]:
    """The config of a saved run (by the CLI or the dashboard) with the overrides a resumed run
    may take: a larger batch for a final phase, and how often it saves, measures and checkpoints."""
    unknown = set(overrides) - set(RESUME_OVERRIDES)
    if unknown:
        raise UsageError(f"a resumed run keeps its own {', '.join(sorted(unknown))}")
    config, commands = read_run_config(run_dir)
    return config.replace(**{k: v for k, v in overrides.items() if v is not None}), commands


def gan_train(config: RunConfig, out: Path, steps: int, command: str = "", *, resume: bool = False,
              commands: list[str] | None = None,
              progress: Callable[[int, int, np.ndarray, float], None] | None = None) -> Path:
    """Train up to `steps` iterations in all and write the run directory; returns its path.
    `resume`: continue the run saved in `out` (its config and `commands` from resume_config).
    Raises GanAppError subclasses. `progress(step, total, last_losses, steps_per_second)` is
    called after every chunk."""
    if steps <= 0:
        raise UsageError(f"--steps must be > 0, got {steps}")
    config.validate()
    if not resume:
        check_new_run_dir(out)  # never over an earlier run or export: nothing is touched
    check_free(out)  # refused at once when another process trains it (RunLock below decides)
    dataset = load_dataset(config.dataset)
    check_dataset(config.preset_obj(), dataset)  # wrong arguments write nothing
    out = ensure_writable_dir(out)
    with RunLock(out):  # one writer per run directory, until the export is whole
        _train_locked(config, out, steps, command, resume, commands or [], dataset, progress)
    return out


def _train_locked(config: RunConfig, out: Path, steps: int, command: str, resume: bool, commands: list[str],
                  dataset: Dataset, progress: Callable[[int, int, np.ndarray, float], None] | None) -> None:
    run = Run(config, out, resume=resume, commands=commands, dataset=dataset)  # a run that does not fit writes nothing
    if run.step >= steps:
        run.close()
        raise UsageError(f"{out} is at step {run.step:,} already; pass --steps larger than that to continue it")
    run.observer = tensorboard = TensorBoard(out / "logs")
    (out / "meta.json").unlink(missing_ok=True)  # an earlier run's meta would make this one look finished
    run.commands.append(command)
    first, t0 = run.step, run.clock
    try:
        while run.step < steps:
            rows = run.train(min(CHUNK, steps - run.step))
            if run.nan is not None:
                raise TrainingDiverged(f"training diverged: {run.nan}; try a lower learning rate")
            if progress:
                # steps this process trained, over their training time (metrics.csv's clock)
                progress(run.step, steps, rows[-1], (run.step - first) / max(run.clock - t0, 1e-9))
        if config.quality_every and run.quality.steps[-1:] != [run.step]:
            run.measure()  # the end of a run is always measured
        if run.state is not None and run.saved_step != run.step:
            run.save()  # the end of a run is always resumable, here or in the dashboard
    finally:
        run.close()
        tensorboard.close()
    run.export(out)  # the dashboard's export too: generator.keras, discriminator.keras, meta.json last


class ProgressBar:
    """One updating line like the tutorial's print('epoch:%d' % i, ' d_loss:%.4f' ...)."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self._last_print = -math.inf

    def __call__(self, i: int, total: int, row: np.ndarray, rate: float) -> None:
        done = i == total
        now = time.perf_counter()
        if not done and now - self._last_print < (0.2 if self.tty else 10.0):
            return
        self._last_print = now
        filled = int(self.width * i / total)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {i}/{total}  "
            f"d_loss:{row[0]:.4f}  g_loss:{row[3]:.4f}  {rate:.1f} it/s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if done and self.tty:
            self.stream.write("\n")
        self.stream.flush()
