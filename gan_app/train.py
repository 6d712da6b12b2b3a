"""Headless training: the tutorial's gan_train(epoch, batch_size, saving_interval), done properly.

Writes into one run directory:
  metrics.csv              header, then one row per step (step, seconds, METRICS...)
  samples/step_XXXXXX.png  5x5 grid from one fixed noise batch, every saving_interval steps
  quality.csv              classifier FID, score and digit coverage every quality_every steps
  logs/                    TensorBoard scalars and sample grids (tensorboard --logdir ...)
  state/                   full training state every checkpoint_every steps (resume with --resume)
  generator.keras          the trained generator (loads with safe_mode=True)
  meta.json                written last and atomically: a run without it is not finished
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from gan_app.config import METRICS, Preset, get_preset
from gan_app.data import Dataset, load_dataset, scale_to_range, to_unit_range
from gan_app.errors import GanAppError, UsageError
from gan_app.files import atomic_write_bytes, atomic_write_json, ensure_writable_dir, save_model_atomic
from gan_app.images import grid_png
from gan_app.latent import sample_prior
from gan_app.step import make_step, sample_noise

CSV_HEADER = ("step", "seconds") + METRICS
QUALITY_HEADER = ("step", "fid", "score", "covered") + tuple(f"share_{d}" for d in range(10))
CHUNK = 10  # steps per compiled call between progress updates
QUALITY_NOT_AVAILABLE = "quality metrics need labelled 28x28 digits (mnist5k or mnist)"


class TrainingDiverged(GanAppError):
    """A loss became NaN or Inf."""


@dataclass(frozen=True)
class RunSpec:
    preset: Preset  # with CLI overrides applied (batch size, ...)
    dataset: Dataset
    steps: int  # total iterations of the run (a resumed run continues up to it)
    saving_interval: int
    out: Path
    seed: int = 0
    mode: str = "fused"
    command: str = ""
    earlier_commands: tuple[str, ...] = ()  # of a resumed run: the commands that trained it so far
    checkpoint_every: int = 0  # 0: no training-state checkpoints
    quality_every: int = 0  # 0: no quality metrics
    quality_samples: int = 1000
    resume: bool = False

    def validate(self) -> None:
        for name, value in (("--steps", self.steps), ("--saving-interval", self.saving_interval)):
            if value <= 0:
                raise UsageError(f"{name} must be > 0, got {value}")
        if self.preset.batch_size > len(self.dataset):
            raise UsageError(
                f"batch size {self.preset.batch_size} is larger than dataset {self.dataset.name!r} "
                f"({len(self.dataset)} images); pass --batch-size of at most {len(self.dataset)}"
            )
        if self.mode == "classic" and (self.checkpoint_every or self.resume):
            raise UsageError("checkpoints and --resume need --mode fused")


def fixed_noise(preset: Preset, seed: int, n: int = 25) -> np.ndarray:
    """The one noise batch every sample grid of a run is drawn from."""
    return sample_noise(np.random.default_rng([seed, 25]), n, preset)


def quality_noise(latent_dim: int, noise: str, seed: int, n: int) -> np.ndarray:
    """The fixed latents a run's quality is measured on, so a recorded FID can be reproduced
    (from an export's meta.json too: its latent_dim, noise and seed)."""
    return sample_prior(np.random.default_rng([seed, 7]), n, latent_dim, noise)


def run_meta(spec: RunSpec, steps_done: int) -> dict:
    meta = describe_run(spec.preset, spec.dataset.name, steps_done, spec.seed, spec.mode, spec.command)
    if spec.earlier_commands:  # a resumed run: every command that trained it, in order
        meta["commands"] = [*spec.earlier_commands, spec.command]
    return meta


def describe_run(p: Preset, dataset: str, steps: int, seed: int, mode: str, command: str) -> dict:
    """The fields of meta.json that rebuild and describe a generator (CLI runs and dashboard exports)."""
    return {
        "preset": p.name,
        "dataset": dataset,
        "steps": steps,
        "batch_size": p.batch_size,
        "latent_dim": p.latent_dim,
        "noise": p.noise,
        "output_min": p.output_min,
        "output_max": p.output_max,
        "seed": seed,
        "mode": mode,
        "loss": p.loss,
        "k": p.k,
        "d_lr": p.d_lr,
        "g_lr": p.g_lr,
        "ema": p.ema if mode == "fused" else 0.0,  # samples come from G's moving average
        "r1": p.r1 if mode == "fused" else 0.0,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def resume_spec(run_dir: Path, steps: int, command: str, batch_size: int | None = None, **overrides: Any) -> RunSpec:
    """The RunSpec of an interrupted run, rebuilt from its latest checkpoint's settings; only the
    batch size may change (a larger one for a final phase)."""
    from gan_app.checkpoint import has_checkpoint, saved_settings

    if not has_checkpoint(run_dir):
        raise UsageError(f"{run_dir} has no checkpoint to resume (train it with --checkpoint-every K)")
    s = saved_settings(run_dir)
    preset = get_preset(s["preset"])
    # A run saved before G's moving average or R1 existed has no "ema" or "r1"; it resumes with
    # the preset's, the average starting from the restored G.
    preset = preset.replace(batch_size=batch_size or s["batch_size"], loss=s["loss"], k=s["k"], d_lr=s["d_lr"], g_lr=s["g_lr"],
                            noise=s["noise"], ema=s.get("ema", preset.ema), r1=s.get("r1", preset.r1))
    earlier = s.get("commands") or ([s["command"]] if s.get("command") else [])
    return RunSpec(preset=preset, dataset=load_dataset(s["dataset"]), steps=steps, out=run_dir, seed=s["seed"],
                   mode="fused", command=command, earlier_commands=tuple(earlier), resume=True, **overrides)


class _Outputs:
    """The run directory's growing files: CSVs, sample grids, TensorBoard."""

    def __init__(self, out: Path, resume_from: int) -> None:
        import tensorflow as tf

        self.out = out
        (out / "samples").mkdir(exist_ok=True)
        # A metrics row is labelled with the iteration's index, a quality row with the steps done
        # before it was measured: resumed at step N, rows 0..N-1 and quality up to N are the saved run's.
        self.metrics, kept = self._csv(out / "metrics.csv", CSV_HEADER, resume_from)
        self.quality, _ = self._csv(out / "quality.csv", QUALITY_HEADER, resume_from + 1 if resume_from else 0)
        # training seconds go on from the saved run's, so the time column has no restart either
        self.seconds_before = float(kept[-1][1]) if kept else 0.0
        self.tb = tf.summary.create_file_writer(str(out / "logs"))

    @staticmethod
    def _csv(path: Path, header: tuple[str, ...], keep_below: int) -> tuple[tuple[TextIO, Any], list[list[str]]]:
        rows: list[list[str]] = []
        if keep_below and path.is_file():  # resuming: keep the rows up to the checkpoint
            with open(path, newline="") as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) < keep_below]
        f = open(path, "w", newline="")
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
        return (f, writer), rows

    def close(self) -> None:
        for f, _ in (self.metrics, self.quality):
            f.close()
        self.tb.close()


def gan_train(spec: RunSpec, progress: Callable[[int, int, np.ndarray, float], None] | None = None) -> Path:
    """Train and write the run directory; returns its path. Raises GanAppError subclasses.
    `progress(step, total, last_losses, steps_per_second)` is called after every chunk."""
    import tensorflow as tf

    spec.validate()
    out = ensure_writable_dir(spec.out)
    (out / "meta.json").unlink(missing_ok=True)  # an earlier run's meta would make this one look finished
    p = spec.preset
    step = make_step(spec.mode, p, scale_to_range(spec.dataset.x, p.output_min, p.output_max), spec.seed)
    state = None
    i = 0
    if spec.checkpoint_every or spec.resume:
        from gan_app.checkpoint import RunState

        state = RunState(out, step)
        if spec.resume:
            restored = state.restore()
            i = restored.step if restored else 0
    meter = None
    if spec.quality_every and spec.dataset.is_digits:
        from gan_app.quality import QualityMeter

        meter = QualityMeter()
    z_fixed = fixed_noise(p, spec.seed)
    z_quality = quality_noise(p.latent_dim, p.noise, spec.seed, spec.quality_samples)
    files = _Outputs(out, resume_from=i)
    first = i  # a resumed run's speed counts only the steps this process trained
    last_quality = None
    t0 = time.perf_counter()
    last_t = 0.0
    try:
        while i < spec.steps:
            to_save = -i % spec.saving_interval  # steps before the next iteration with i % K == 0
            n = min(CHUNK, spec.steps - i, to_save + 1)
            rows = step.train(n)
            now = time.perf_counter() - t0
            for j, row in enumerate(rows):
                seconds = files.seconds_before + last_t + (now - last_t) * (j + 1) / n
                files.metrics[1].writerow([i + j, f"{seconds:.3f}"] + [f"{v:.6g}" for v in row])
            with files.tb.as_default():
                for j, row in enumerate(rows):
                    for name, value in zip(METRICS, row):
                        tf.summary.scalar(name, float(value), step=i + j)
            last_t = now
            if not np.isfinite(rows).all():
                files.metrics[0].flush()
                bad = i + int(np.argmax(~np.isfinite(rows).all(axis=1)))
                raise TrainingDiverged(f"training diverged at step {bad}: a loss became NaN or Inf; try a lower learning rate")
            i += n
            last = i - 1
            if last % spec.saving_interval == 0:  # the tutorial saves after iteration i when i % K == 0
                images = to_unit_range(step.generate(z_fixed), p.output_min, p.output_max)
                atomic_write_bytes(out / "samples" / f"step_{last:06d}.png", grid_png(images))
                with files.tb.as_default():
                    tf.summary.image("samples", images[:25], step=last, max_outputs=25)
            if meter is not None and (crossed_multiple(i, n, spec.quality_every) or i == spec.steps):
                last_quality = _measure(meter, step, z_quality, p, i, files)
            if state is not None and spec.checkpoint_every and (crossed_multiple(i, n, spec.checkpoint_every) or i == spec.steps):
                files.metrics[0].flush()
                files.quality[0].flush()
                state.save(i, {"step": np.array([i])}, run_meta(spec, i))
            if progress:
                progress(i, spec.steps, rows[-1], (i - first) / max(now, 1e-9))
    finally:
        files.close()
    save_model_atomic(step.sampler, out / "generator.keras")
    meta = run_meta(spec, spec.steps)
    meta["quality"] = last_quality.as_dict() if last_quality else None
    meta["quality_samples"] = spec.quality_samples  # drawn by quality_noise(latent_dim, noise, seed, n)
    if meter is None:
        meta["quality_note"] = QUALITY_NOT_AVAILABLE if spec.quality_every else "not measured (--quality-every 0)"
    atomic_write_json(out / "meta.json", meta)
    return out


def crossed_multiple(i: int, n: int, every: int) -> bool:
    """Did the last n steps, ending at step count i, pass a multiple of `every`?"""
    return i // every > (i - n) // every


def _measure(meter: Any, step: Any, z: np.ndarray, p: Preset, i: int, files: _Outputs):
    import tensorflow as tf

    q = meter.measure(to_unit_range(step.generate(z), p.output_min, p.output_max))
    files.quality[1].writerow([i, q.fid, q.score, q.covered, *q.histogram])
    with files.tb.as_default():
        tf.summary.scalar("quality/fid", q.fid, step=i)
        tf.summary.scalar("quality/score", q.score, step=i)
        tf.summary.scalar("quality/digits_covered", q.covered, step=i)
    return q


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
