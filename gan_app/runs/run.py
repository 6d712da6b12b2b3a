"""The run layer: one training run and its directory, whichever driver trains it.

A `Run` owns the step object, the fixed noise of its sample grids and the latents its quality is
measured on, the NaN check, when quality is measured and checkpoints are saved, the curves, and
the run directory's files:

  metrics.csv              header, then one row per step (step, seconds, METRICS...)
  quality.csv              classifier FID, score and digit coverage every quality_every steps
  samples/step_XXXXXX.png  5x5 grid from the fixed noise every sample_interval steps
  state/                   training-state checkpoints with the run's config (one schema)

The CLI (gan_app.headless: progress bar, TensorBoard, generator.keras + meta.json) and the
dashboard's live trainer (gan_app.live.trainer: a thread, commands, snapshots) are drivers above it, so
a run started by either continues in the other.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from pathlib import Path
from typing import Any, Callable, Protocol, TextIO

import numpy as np

from gan_app.runs.checkpoint import CheckpointError, RunState, discard_state, has_checkpoint, saved_settings, write_export
from gan_app.core.config import METRICS, ConfigError, Preset, RunConfig, read_saved_config
from gan_app.data.datasets import Dataset, load_dataset, scale_to_range, to_unit_range
from gan_app.core.errors import UsageError
from gan_app.core.files import atomic_write_bytes
from gan_app.runs.history import MetricHistory
from gan_app.core.images import grid_png
from gan_app.core.latent import grid_latents, quality_noise
from gan_app.models.dcgan import with_precision
from gan_app.models.quality import Quality, QualityLog
from gan_app.train.classic import ClassicStep
from gan_app.train.step import FusedStep, TrainingStep

CSV_HEADER = ("step", "seconds") + METRICS
QUALITY_HEADER = ("step", "fid", "score", "covered") + tuple(f"share_{d}" for d in range(10)) + ("label_accuracy",)
QUALITY_NOT_AVAILABLE = ("quality metrics need labelled 28x28 digits (mnist5k, mnist, or your own images "
                         "in folders named 0-9)")


class Observer(Protocol):
    """A driver's view of a run's events (the CLI writes them to TensorBoard)."""

    def on_rows(self, first_step: int, rows: np.ndarray) -> None: ...

    def on_samples(self, step: int, images01: np.ndarray) -> None: ...

    def on_quality(self, step: int, q: Quality) -> None: ...


def crossed_multiple(i: int, n: int, every: int) -> bool:
    """Did the last n steps, ending at step count i, pass a multiple of `every`?"""
    return bool(every) and i // every > (i - n) // every


def non_finite(rows: np.ndarray, first_step: int) -> str | None:
    """What became NaN or Inf, and at which step; None when every loss is finite."""
    bad_rows = ~np.isfinite(rows).all(axis=1)
    if not bad_rows.any():
        return None
    j = int(np.argmax(bad_rows))
    names = [m for m, v in zip(METRICS, rows[j]) if not np.isfinite(v)]
    return f"{' and '.join(names)} became NaN or Inf at step {first_step + j}"


def check_dataset(preset: Preset, dataset: Dataset) -> None:
    """A batch the dataset can fill, and labels where the preset draws the digit it is asked for."""
    if preset.num_classes:
        if dataset.y is None:
            raise UsageError(f"preset {preset.name!r} draws the digit it is asked for: it needs a labelled dataset, "
                             f"and {dataset.name!r} has no labels")
        if len(dataset.y) and not (0 <= int(dataset.y.min()) and int(dataset.y.max()) < preset.num_classes):
            raise UsageError(f"preset {preset.name!r} needs labels 0..{preset.num_classes - 1}; "
                             f"{dataset.name!r} has {int(dataset.y.min())}..{int(dataset.y.max())}")
    if preset.batch_size > len(dataset):
        raise UsageError(f"batch size {preset.batch_size} is larger than dataset {dataset.name!r} ({len(dataset)} images); "
                         f"choose a batch size (--batch-size) of at most {len(dataset)}")
    if preset.groups > len(dataset):
        raise UsageError(f"preset {preset.name!r} sorts the images into {preset.groups} groups; dataset "
                         f"{dataset.name!r} has only {len(dataset)} images")


def make_step(mode: str, preset: Preset, images: np.ndarray, seed: int = 0, labels: np.ndarray | None = None,
              precision: str = "float32") -> FusedStep | ClassicStep:
    """The run's training step: the tutorials' recipe for mode "classic", else the fused step."""
    return ClassicStep(preset, images, seed) if mode == "classic" else FusedStep(preset, images, seed, labels, precision)


def read_run_config(run_dir: Path) -> tuple[RunConfig, list[str]]:
    """The config and commands saved with a run directory's latest checkpoint (any driver, this
    schema or the previous one). One-line CheckpointError otherwise; nothing is written."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a directory")
    if not has_checkpoint(run_dir):
        raise CheckpointError(f"{run_dir} has no training state to continue (a run keeps one in state/; "
                              "train it with this version's CLI or dashboard)")
    try:
        return read_saved_config(saved_settings(run_dir), f"the settings of {run_dir}")
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


class RunFiles:
    """The run directory's growing files: metrics.csv, quality.csv and sample grids."""

    def __init__(self, out: Path, resume_from: int) -> None:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        # A metrics row is labelled with the iteration's index, a quality row with the steps done
        # before it was measured: resumed at step N, rows 0..N-1 and quality up to N are the saved run's.
        self._metrics, self.metrics_rows = self._open(out / "metrics.csv", CSV_HEADER, resume_from)
        self._quality, _ = self._open(out / "quality.csv", QUALITY_HEADER, resume_from + 1 if resume_from else 0)
        self.metrics = csv.writer(self._metrics)
        self.quality = csv.writer(self._quality)

    @staticmethod
    def _open(path: Path, header: tuple[str, ...], keep_below: int) -> tuple[TextIO, list[list[str]]]:
        rows = read_rows(path, keep_below) if keep_below else []
        f = open(path, "w", newline="")
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
        return f, rows

    def flush(self) -> None:
        self._metrics.flush()
        self._quality.flush()

    def close(self) -> None:
        self._metrics.close()
        self._quality.close()


def read_rows(path: Path, below: int) -> list[list[str]]:
    """The rows of a run's CSV with a step below `below` (none if the file is missing)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in list(csv.reader(f))[1:] if r and r[0].isdigit() and int(r[0]) < below]


class Run:
    """One run: train it, and it keeps its curves, quality, samples and checkpoints.

    `run_dir` None: nothing on disk (tests, benchmarks). `resume`: continue the run saved in
    `run_dir`, whose config must be `config` (read_run_config); nothing is written until its
    checkpoint has been restored, so a run that does not fit leaves the directory untouched."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path | None = None,
        *,
        resume: bool = False,
        commands: list[str] | tuple[str, ...] = (),
        dataset: Dataset | None = None,
        build_step: Callable[[Preset, np.ndarray, int], TrainingStep] | None = None,
        meter: Any = None,
        observer: Observer | None = None,
    ) -> None:
        config.validate()
        self.config, self.preset = config, config.preset_obj()
        self.dir = None if run_dir is None else Path(run_dir)
        self.commands = list(commands)
        self.observer = observer
        self.dataset = dataset or load_dataset(config.dataset)
        p = self.preset
        check_dataset(p, self.dataset)
        if resume and config.mode != "fused":
            raise UsageError("only runs of the fused step keep a training state to continue")
        images = scale_to_range(self.dataset.x, p.output_min, p.output_max)
        labels = self.dataset.y if p.num_classes else None
        build = build_step or (lambda preset, x, seed: make_step(config.mode, preset, x, seed, labels, config.precision))
        self.step_obj: TrainingStep = build(p, images, config.seed)
        self.step = 0
        self.elapsed = 0.0  # training seconds, quality measurements included, pauses not
        self.history = MetricHistory(len(METRICS))
        self.quality = QualityLog()
        self.last_quality: Quality | None = None
        self.nan: str | None = None  # what became NaN or Inf in the last call
        self.saved_step = -1  # of the latest checkpoint on disk
        # A conditional run's grid has a column per digit (5 rows of 0-9); its quality latents ask
        # for every digit equally often.
        self.grid_columns = p.num_classes
        self.z_fixed, self.y_fixed = grid_latents(p, config.seed)
        self.z_quality = quality_noise(p.latent_dim, p.noise, config.seed, config.quality_samples)
        self.y_quality = np.arange(config.quality_samples) % p.num_classes if p.num_classes else None
        self.quality_note = "" if self.dataset.is_digits else QUALITY_NOT_AVAILABLE
        self.meter = meter
        if self.meter is None and config.quality_every and not self.quality_note:
            from gan_app.models.classifier import shared_meter

            self.meter = shared_meter()
        self.state = None
        if self.dir is not None and config.mode == "fused":
            self.state = RunState(self.dir, self.step_obj)
        if resume:
            self._restore()
        elif self.dir is not None:
            discard_state(self.dir)  # a fresh run in a used directory: the old state and grids are not its
            for old in (self.dir / "samples").glob("step_*.png"):
                old.unlink()
        self.files = None if self.dir is None else RunFiles(self.dir, resume_from=self.step)
        if self.files is not None and self.files.metrics_rows:  # one time column, no restart
            self.elapsed = float(self.files.metrics_rows[-1][1])
        self.clock = self.elapsed  # training seconds at the latest row of metrics.csv

    # ---- training -----------------------------------------------------------------------
    def train(self, n: int) -> np.ndarray:
        """n iterations (in calls that end on sample points); quality and checkpoints follow.
        Check `nan` after it: training stops where a loss became NaN or Inf."""
        out = []
        self.nan = None
        while n > 0 and self.nan is None:
            m = min(n, self._to_next_event())
            t0 = time.perf_counter()
            rows = self.step_obj.train(m)
            self.record(rows, seconds=time.perf_counter() - t0)
            self.elapsed += time.perf_counter() - t0  # the bookkeeping is training time too
            if self.nan is None:
                self._after(m)
            out.append(rows)
            n -= m
        return np.concatenate(out) if out else np.zeros((0, len(METRICS)), np.float32)

    def _to_next_event(self) -> int:
        """Steps until the next sample grid, quality measurement or checkpoint, so each lands on
        its multiple wherever the run was started or resumed."""
        c = self.config
        steps = [-self.step % c.sample_interval + 1]  # the grid after iteration i, i % K == 0
        steps += [-self.step % every or every for every in (c.quality_every, c.checkpoint_every) if every]
        return min(steps)

    def set_live(self, **changes: Any) -> None:
        """Learning rates, loss or k, changed while training; saved with the run from now on."""
        self.config = self.config.replace(**changes)
        self.preset = self.config.preset_obj()
        self.step_obj.set_live(**changes)  # type: ignore[attr-defined]

    def record(self, rows: np.ndarray, seconds: float = 0.0) -> None:
        """Book iterations trained (by `train`, or one network's single step) in `seconds`;
        metrics.csv's time column spreads them over the rows."""
        first = self.step
        self.history.append(first, rows)
        self.step += len(rows)
        if self.files is not None:
            for j, row in enumerate(rows):
                t = self.elapsed + seconds * (j + 1) / len(rows)
                self.files.metrics.writerow([first + j, f"{t:.3f}"] + [f"{v:.6g}" for v in row])
        self.clock = self.elapsed + seconds
        if self.observer is not None:
            self.observer.on_rows(first, rows)
        self.nan = non_finite(rows, first)
        if self.nan is not None and self.files is not None:
            self.files.flush()
        elif (self.step - 1) % self.config.sample_interval == 0:  # the tutorial saves after iteration i, i % K == 0
            self.save_samples(self.step - 1)

    def _after(self, n: int) -> None:
        if crossed_multiple(self.step, n, self.config.quality_every):
            self.measure()
        if self.state is not None and crossed_multiple(self.step, n, self.config.checkpoint_every):
            self.save()  # a run that keeps no training state (no directory, classic) has no checkpoints

    def samples01(self) -> np.ndarray:
        """The fixed noise batch's images, in [0, 1]."""
        p = self.preset
        return to_unit_range(self.step_obj.generate(self.z_fixed, self.y_fixed), p.output_min, p.output_max)

    def judge01(self, images01: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """D's probability now that each image in [0, 1] is real (as the digit in `labels`, for a
        conditional run), (N,)."""
        p = self.preset
        return self.step_obj.judge(scale_to_range(images01, p.output_min, p.output_max), labels)

    def grid_png(self, images01: np.ndarray, scale: int = 4) -> bytes:
        return grid_png(images01, scale, columns=self.grid_columns)

    def save_samples(self, label: int) -> None:
        images = self.samples01()
        if self.dir is not None and np.isfinite(images).all():
            atomic_write_bytes(self.dir / "samples" / f"step_{label:06d}.png", self.grid_png(images))
        if self.observer is not None:
            self.observer.on_samples(label, images)

    def measure(self) -> Quality | None:
        """Classifier FID, score and coverage of the quality latents now (None where not available)."""
        if self.meter is None or self.quality_note:
            return None
        p = self.preset
        t0 = time.perf_counter()
        images = to_unit_range(self.step_obj.generate(self.z_quality, self.y_quality), p.output_min, p.output_max)
        q = self.meter.measure(images, self.y_quality)
        seconds = time.perf_counter() - t0
        self.elapsed += seconds
        self.quality.add(self.step, q, seconds)
        self.last_quality = q
        if self.files is not None:
            accuracy = "" if q.label_accuracy is None else q.label_accuracy
            self.files.quality.writerow([self.step, q.fid, q.score, q.covered, *q.histogram, accuracy])
        if self.observer is not None:
            self.observer.on_quality(self.step, q)
        return q

    # ---- on disk ------------------------------------------------------------------------
    def save(self) -> None:
        """A checkpoint of the full training state, with the curves and the config."""
        if self.state is None:
            raise UsageError("this run keeps no training state (no run directory, or the classic recipe)")
        if self.files is not None:
            self.files.flush()
        steps, rows = self.history.arrays()
        q_steps, q_rows = self.quality.arrays()
        history = {"steps": steps, "rows": rows, "stride": np.array(self.history.stride),
                   "quality_steps": q_steps, "quality_rows": q_rows, "histogram": np.array(self.quality.histogram),
                   "label_accuracy": np.array(np.nan if self.quality.label_accuracy is None else self.quality.label_accuracy),
                   "elapsed": np.array(self.elapsed)}
        self.state.save(self.step, history, self.config.saved(self.commands))
        self.saved_step = self.step

    def _restore(self) -> None:
        if self.state is None:
            raise UsageError("only runs of the fused step keep a training state to continue")
        restored = self.state.restore()
        if restored is None:
            raise CheckpointError(f"{self.dir} has no training state to continue")
        h = restored.history
        self.step = self.saved_step = restored.step
        if "rows" in h:
            self.history.load(h["steps"], h["rows"], int(h["stride"]))
            self.quality.load(h["quality_steps"], h["quality_rows"], h["histogram"])
            if "label_accuracy" in h and np.isfinite(h["label_accuracy"]):
                self.quality.label_accuracy = float(h["label_accuracy"])
            self.elapsed = float(h["elapsed"])
        else:  # saved by the previous CLI, which kept its curves in the CSVs only
            self._history_from_files()

    def _history_from_files(self) -> None:
        rows = read_rows(self.dir / "metrics.csv", self.step)
        if rows:
            self.history.append(int(rows[0][0]), np.array([[float(v) for v in r[2:]] for r in rows]))
            self.elapsed = float(rows[-1][1])
        q = read_rows(self.dir / "quality.csv", self.step + 1)
        if q:
            self.quality.load(np.array([int(r[0]) for r in q]), np.array([[float(r[1]), float(r[2]), int(r[3])] for r in q]),
                              tuple(float(v) for v in q[-1][4:14]))

    def describe(self, command: str = "") -> dict[str, Any]:
        """meta.json's fields: what rebuilds this generator and how it was trained."""
        p, c = self.preset, self.config
        commands = [*self.commands, command] if command else list(self.commands)
        meta = {
            "preset": p.name, "dataset": self.dataset.name, "steps": self.step, "batch_size": p.batch_size,
            "latent_dim": p.latent_dim, "noise": p.noise, "output_min": p.output_min, "output_max": p.output_max,
            "seed": c.seed, "mode": c.mode, "precision": c.precision, "num_classes": p.num_classes, "groups": p.groups,
            "loss": p.loss, "k": p.k, "d_lr": p.d_lr, "g_lr": p.g_lr,
            "ema": p.ema if c.mode == "fused" else 0.0,  # samples come from G's moving average
            "r1": p.r1 if c.mode == "fused" else 0.0,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": commands[-1] if commands else "",
            "quality": None,
            "quality_samples": c.quality_samples,  # drawn by quality_noise(latent_dim, noise, seed, n)
        }
        if len(commands) > 1:
            meta["commands"] = commands  # every command that trained it, in order
        if self.quality.steps:
            meta["quality"] = {**self._latest_quality(), "step": int(self.quality.steps[-1])}
        elif self.quality_note or not c.quality_every:
            meta["quality_note"] = self.quality_note or "not measured (quality every 0 steps)"
        return meta

    def _latest_quality(self) -> dict[str, Any]:
        if self.last_quality is not None:
            return self.last_quality.as_dict()
        fid, score, covered = self.quality.rows[-1]
        return {"fid": fid, "score": score, "covered": int(covered), "histogram": list(self.quality.histogram),
                "label_accuracy": self.quality.label_accuracy}

    def export(self, directory: Path, command: str = "", exported_by: str = "") -> None:
        """generator.keras, discriminator.keras (D of the same step) + meta.json (written last,
        atomically). `exported_by` marks meta.json with who wrote the export (the dashboard
        replaces only exports it marked as its own)."""
        meta = self.describe(command)
        if exported_by:
            meta["exported_by"] = exported_by
        # float32 copies of a mixed-precision run's networks: an export draws the same anywhere
        write_export(directory, with_precision(self.step_obj.sampler, "float32"), meta,
                     with_precision(self.step_obj.discriminator, "float32"))

    def close(self) -> None:
        if self.files is not None:
            self.files.close()
            self.files = None
