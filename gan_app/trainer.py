"""The one background training run of a dashboard server.

A `Trainer` owns a worker thread, the only thread that touches TensorFlow. Pages send it
commands (start, pause, step, live settings...) through a queue and read `snapshot()`: an
immutable copy published under a lock after every chunk of steps. The trainer never calls
st.*; the pages never touch its models.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import queue
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gan_app.errors import GanAppError, UsageError
from gan_app.checkpoint import discard_state, has_checkpoint
from gan_app.history import GridSnapshots, MetricHistory
from gan_app.quality import QualityLog
from gan_app.train import crossed_multiple
from gan_app.trainer_types import CHUNK_SECONDS, LIVE_FIELDS, METRICS, Settings, Snapshot

__all__ = ["Settings", "Snapshot", "Trainer"]

log = logging.getLogger(__name__)
_RUN_IDS = itertools.count()  # unique in the process, so a cache keyed by run never mixes two trainers' runs
RATE_WINDOW_S = 5.0  # steps/s on the page: the wall clock over this much recent training
HISTORY_EVERY_S = 1.0  # curves in the snapshot are refreshed at most this often while running

class Trainer:
    """Thread-safe; one per server process (gan_app.ui.common.get_trainer)."""

    def __init__(
        self,
        settings: Settings | None = None,
        build_step: Callable[..., Any] | None = None,
        checkpoint_dir: Path | None = None,
    ) -> None:
        """`build_step(preset, images, seed)` makes the step object (default FusedStep).
        `checkpoint_dir` keeps the run's state; a checkpoint found there is resumed at once."""
        self._build_step = build_step
        self._checkpoint_dir = checkpoint_dir
        self._meter: Any = None  # the quality meter outlives runs: its real statistics never change
        self._lock = threading.Lock()
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._settings = settings or Settings()
        self._device = _device_name()  # known before anything is built, so the page can say it
        self._run_id = next(_RUN_IDS)
        self._snapshot = Snapshot(settings=self._settings, device=self._device, run_id=self._run_id)
        self._version = 0  # of the published snapshot
        # worker-only state
        self._step_obj: Any = None
        self._new_run_state()
        if checkpoint_dir is not None and has_checkpoint(checkpoint_dir):
            self._send("restore")

    # ---- commands (any thread) -----------------------------------------------------------
    def start(self) -> None:
        self._send("start")

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def reset(self, settings: Settings | None = None) -> None:
        if settings is not None:
            settings.validate()
        self._send("reset", settings)

    def step_once(self, which: str) -> None:
        """One iteration while not running: 'd', 'g' or 'both' (GAN Lab's step mode)."""
        if which not in ("d", "g", "both"):
            raise UsageError(f"unknown step {which!r}; choose d, g or both")
        self._send("step", which)

    def apply_live(self, **changes: Any) -> None:
        """Learning rates, loss and k: applied to the running run without a restart."""
        unknown = set(changes) - set(LIVE_FIELDS)
        if unknown:
            raise UsageError(f"{', '.join(sorted(unknown))} cannot change live; use Reset (live: {', '.join(LIVE_FIELDS)})")
        dataclasses.replace(self._settings, **changes).validate()
        self._send("live", changes)

    def save_checkpoint(self) -> None:
        """Save the full training state now (it is also saved every checkpoint_every steps)."""
        if self._checkpoint_dir is None:
            raise UsageError("this server keeps no checkpoints")
        self._send("save")

    def export(self, directory: Path) -> None:
        """Write generator.keras + meta.json of the current generator into `directory`."""
        self._send("export", Path(directory))

    def request_generator(self) -> None:
        """Ask for a copy of the live generator's weights (for the latent lab)."""
        self._send("copy_generator")

    def set_sample_interval(self, steps: int) -> None:
        if steps <= 0:
            raise UsageError(f"sample interval must be > 0, got {steps}")
        self._send("live_interval", steps)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every command sent so far has been handled (tests, benchmarks)."""
        done = threading.Event()
        self._send("ping", done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker thread for good (tests, server shutdown)."""
        self._closed.set()
        self._commands.put(("close", None))
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def thread_count(self) -> int:
        return int(self._thread is not None and self._thread.is_alive())

    def _send(self, command: str, arg: Any = None) -> None:
        if self._closed.is_set():
            raise GanAppError("the trainer has been shut down")
        with self._lock:  # two tabs pressing Start at once still get one thread
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gan-trainer", daemon=True)
                self._thread.start()
        self._commands.put((command, arg))

    # ---- worker thread --------------------------------------------------------------------
    def _new_run_state(self) -> None:
        self._status = "idle"
        self._message = ""
        self._step = 0
        self._history = MetricHistory(len(METRICS))
        self._history_version = 0  # bumps when the published curves change
        self._history_arrays = (np.zeros(0), np.zeros((0, len(METRICS))))
        self._history_published_at = -1.0
        self._frames = GridSnapshots()
        self._grid_png: bytes | None = None
        self._grid_step = -1
        self._elapsed = 0.0
        self._rate = 0.0  # of the compiled call alone: sizes the chunks
        self._recent: collections.deque[tuple[float, int]] = collections.deque()  # (wall time, step) while running
        self._traced = False
        self._weights_version = 0
        self._z_fixed: np.ndarray | None = None
        self._z_quality: np.ndarray | None = None
        self._quality = QualityLog()
        self._quality_note = ""
        self._run_state: Any = None
        self._checkpoint_step = -1
        self._generator_weights: Any = None

    def _run(self) -> None:
        while True:
            running = self._status == "running"
            try:
                command, arg = self._commands.get_nowait() if running else self._commands.get()
            except queue.Empty:
                command, arg = None, None
            if command == "close":
                return
            t0 = time.perf_counter()
            try:
                if command is not None:
                    self._handle(command, arg)
                elif running:
                    self._train_chunk()
            except GanAppError as exc:
                self._fail(str(exc))
            except Exception as exc:  # a crash in training: shown in the page, run kept for inspection
                log.error("training thread failed:\n%s", traceback.format_exc())
                self._fail(f"{type(exc).__name__}: {exc}")
            if running:
                self._elapsed += time.perf_counter() - t0
            self._publish()

    def _fail(self, message: str) -> None:
        self._status = "error"
        self._message = message

    def _handle(self, command: str, arg: Any) -> None:
        if command == "ping":
            arg.set()
        elif command == "start" and self._status in ("idle", "stopped", "error"):
            self._ensure_model()
            self._status, self._message = "running", ""
            self._recent.clear()
        elif command == "resume" and self._status == "paused":
            self._status, self._message = "running", ""
            self._recent.clear()  # the pause is not training time
        elif command == "pause" and self._status == "running":
            self._status = "paused"
        elif command == "stop" and self._status in ("running", "paused"):
            self._status = "stopped"
        elif command == "reset":
            if arg is not None:
                self._settings = arg
            self._step_obj = None
            self._run_id = next(_RUN_IDS)
            self._new_run_state()
            if self._checkpoint_dir is not None:
                discard_state(self._checkpoint_dir)  # Reset discards the run: a restart must not bring it back
        elif command == "copy_generator" and self._step_obj is not None:
            from gan_app.lab import GeneratorWeights

            p = self._step_obj.preset
            self._generator_weights = GeneratorWeights(
                p.name, self._step, self._weights_version, self._run_id,
                tuple(w.copy() for w in self._step_obj.sampler.get_weights()), p.noise, p.output_min, p.output_max)
        elif command == "restore":
            self._restore()
        elif command == "save":
            self._save(explicit=True)
        elif command == "export":
            self._export(arg)
        elif command == "step" and self._status != "running":
            self._ensure_model()
            fn = {"d": self._step_obj.step_d, "g": self._step_obj.step_g, "both": lambda: self._step_obj.train(1)}[arg]
            self._record(fn())
            if self._status in ("idle", "error"):
                self._status, self._message = "paused", ""
        elif command == "live":
            self._settings = dataclasses.replace(self._settings, **arg)
            if self._step_obj is not None:
                self._step_obj.set_live(**arg)
        elif command == "live_interval":
            self._settings = dataclasses.replace(self._settings, sample_interval=arg)

    def _ensure_model(self) -> None:
        if self._step_obj is not None:
            return
        self._message = "building the models..."
        self._publish()
        from gan_app.data import load_dataset, scale_to_range
        from gan_app.step import FusedStep
        from gan_app.train import QUALITY_NOT_AVAILABLE, fixed_noise, quality_noise

        preset = self._settings.preset_obj()
        dataset = load_dataset(self._settings.dataset)
        if preset.batch_size > len(dataset):
            raise UsageError(f"batch size {preset.batch_size} is larger than the dataset ({len(dataset)} images)")
        build = self._build_step or FusedStep
        self._step_obj = build(preset, scale_to_range(dataset.x, preset.output_min, preset.output_max), self._settings.seed)
        self._z_fixed = fixed_noise(preset, self._settings.seed)
        self._z_quality = quality_noise(preset.latent_dim, preset.noise, self._settings.seed,
                                         self._settings.quality_samples)
        self._quality_note = "" if dataset.is_digits else QUALITY_NOT_AVAILABLE
        if self._meter is None and not self._quality_note and self._settings.quality_every:
            from gan_app.quality import QualityMeter

            self._meter = QualityMeter()  # loads the classifier and the real digits' statistics once
        if self._checkpoint_dir is not None:
            from gan_app.checkpoint import RunState

            self._run_state = RunState(self._checkpoint_dir, self._step_obj)
        self._message = ""
        self._publish_grid()

    def _train_chunk(self) -> None:
        interval = self._settings.sample_interval
        n = max(1, int(self._rate * CHUNK_SECONDS))
        n = min(n, interval - self._step % interval)  # end chunks on sample points
        t0 = time.perf_counter()
        rows = self._step_obj.train(n)
        dt = max(time.perf_counter() - t0, 1e-6)
        self._record(rows)
        if self._traced:  # the first call traces the step: not a speed
            self._rate = n / dt if self._rate == 0.0 else 0.7 * self._rate + 0.3 * n / dt
        self._traced = True
        now = time.monotonic()
        self._recent.append((now, self._step))
        while self._recent and now - self._recent[0][0] > RATE_WINDOW_S:
            self._recent.popleft()

    def _wall_rate(self) -> float:
        """Steps per second of wall-clock time over the recent window: what the class sees
        Step grow by, quality measurements, grids and viewers included."""
        if self._status != "running" or len(self._recent) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _record(self, rows: np.ndarray) -> None:
        self._history.append(self._step, rows)
        self._step += len(rows)
        self._weights_version += 1
        if not np.isfinite(rows).all():
            bad = [m for m, v in zip(METRICS, rows[~np.isfinite(rows).all(axis=1)][0]) if not np.isfinite(v)]
            self._status = "paused"
            self._message = (
                f"{' and '.join(bad)} became NaN or Inf at step {self._step}: training paused. "
                "Lower the learning rates, or Reset."
            )
        if self._step % self._settings.sample_interval == 0 or self._status != "running":
            self._publish_grid()
        if self._status == "running":
            self._maybe_measure(len(rows))
            every = self._settings.checkpoint_every
            if every and self._run_state is not None and crossed_multiple(self._step, len(rows), every):
                self._save(explicit=False)

    def _maybe_measure(self, n_new: int) -> None:
        every = self._settings.quality_every
        if not every or self._quality_note or not crossed_multiple(self._step, n_new, every):
            return
        from gan_app.data import to_unit_range

        t0 = time.perf_counter()
        p = self._step_obj.preset
        q = self._meter.measure(to_unit_range(self._step_obj.generate(self._z_quality), p.output_min, p.output_max))
        seconds = time.perf_counter() - t0
        self._quality.add(self._step, q, seconds)
        self._elapsed += seconds

    def _save(self, explicit: bool) -> None:
        if self._run_state is None:
            if explicit:
                raise UsageError("nothing to save yet: press Start or a Step button first")
            return
        steps, rows = self._history.arrays()
        q_steps, q_rows = self._quality.arrays()
        history = {"steps": steps, "rows": rows, "stride": np.array(self._history.stride),
                   "quality_steps": q_steps, "quality_rows": q_rows, "histogram": np.array(self._quality.histogram),
                   "elapsed": np.array(self._elapsed)}
        self._run_state.save(self._step, history, dataclasses.asdict(self._settings))
        self._checkpoint_step = self._step
        if explicit:
            self._message = f"Checkpoint saved at step {self._step:,} in {self._checkpoint_dir}."

    def _restore(self) -> None:
        from gan_app.checkpoint import saved_settings

        self._settings = Settings(**saved_settings(self._checkpoint_dir))
        self._ensure_model()
        restored = self._run_state.restore()
        h = restored.history
        self._step = self._checkpoint_step = restored.step
        self._history.load(h["steps"], h["rows"], int(h["stride"]))
        self._quality.load(h["quality_steps"], h["quality_rows"], h["histogram"])
        self._elapsed = float(h["elapsed"])
        self._weights_version += 1
        self._status = "paused"
        self._message = f"Resumed the saved run at step {restored.step:,}: press Resume to continue training."
        self._publish_grid()

    def _export(self, directory: Path) -> None:
        from gan_app.checkpoint import write_export
        from gan_app.train import describe_run

        if self._step_obj is None:
            raise UsageError("nothing to export yet: press Start or a Step button first")

        p, s = self._step_obj.preset, self._settings
        q_steps, q_rows = self._quality.arrays()
        quality = None
        if len(q_steps):
            quality = {"fid": float(q_rows[-1, 0]), "score": float(q_rows[-1, 1]), "covered": int(q_rows[-1, 2]),
                       "histogram": list(self._quality.histogram), "step": int(q_steps[-1])}
        meta = describe_run(p, s.dataset, self._step, s.seed, "fused", f"dashboard run with settings {dataclasses.asdict(s)}")
        write_export(directory, self._step_obj.sampler, {**meta, "quality": quality})
        self._message = f"Exported the generator at step {self._step:,} to {directory}."

    def _publish_grid(self) -> None:
        from gan_app.data import to_unit_range
        from gan_app.images import grid_png

        p = self._step_obj.preset
        images = to_unit_range(self._step_obj.generate(self._z_fixed), p.output_min, p.output_max)
        if not np.isfinite(images).all():
            return
        # One pixel per pixel: 16x cheaper to encode and to send than the 4x grid; pages and
        # downloads enlarge it.
        self._grid_png, self._grid_step = grid_png(images, scale=1), self._step
        self._frames.add(self._step, self._grid_png)

    def _published_history(self) -> tuple[np.ndarray, np.ndarray]:
        """The curves as published: copied at most once a second while running (every viewer's
        charts are drawn from them), at once otherwise."""
        now = time.monotonic()
        shown_step = self._history_arrays[0][-1] if len(self._history_arrays[0]) else -1
        pending = len(self._history) and self._history.last_step() != shown_step
        if pending or (not len(self._history) and len(self._history_arrays[0])):
            if self._status != "running" or now - self._history_published_at >= HISTORY_EVERY_S:
                self._history_arrays = self._history.arrays()
                self._history_version += 1
                self._history_published_at = now
        return self._history_arrays

    def _publish(self) -> None:
        steps, rows = self._published_history()
        q_steps, q_rows = self._quality.arrays()
        batch = self._step_obj.preset.batch_size if self._step_obj is not None else 0
        rate = self._wall_rate()
        self._version += 1
        snap = Snapshot(
            version=self._version,
            status=self._status,
            message=self._message,
            step=self._step,
            steps_per_s=rate,
            images_per_s=rate * batch,
            elapsed_s=self._elapsed,
            device=self._device,
            settings=self._settings,
            history_steps=steps,
            history=rows,
            history_version=self._history_version,
            grid_png=self._grid_png,
            grid_step=self._grid_step,
            frames=tuple(self._frames.frames),
            run_id=self._run_id,
            weights_version=self._weights_version,
            quality_steps=q_steps,
            quality=q_rows,
            histogram=self._quality.histogram,
            quality_note=self._quality_note,
            quality_cost=self._quality.seconds / self._elapsed if self._elapsed else 0.0,
            checkpoint_step=self._checkpoint_step,
            generator_weights=self._generator_weights,
        )
        with self._lock:
            self._snapshot = snap


def _device_name() -> str:
    from gan_app.step import device_name

    return device_name()
