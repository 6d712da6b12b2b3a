"""The dashboard's driver of a run: the one background training run of a server.

A `LiveTrainer` owns a worker thread, the only thread that touches the run's own models, and
the run (gan_app.runs.run.Run) it trains in a run directory like any other (checkpoints/live/ by
default). Other threads use TensorFlow on models of their own: the latent lab and projection on
copies of the weights (`copy_generator()`), the Models page on the exports it opens. Pages send
commands through a queue and read `snapshot()`, an immutable copy published under a lock after
every chunk of steps (built by gan_app.live.publish). The trainer never calls st.*. While it owns
a run directory it holds the directory's writer lock (gan_app.runs.lock): a run another process
trains is not opened, and the message names that process.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from gan_app.runs.checkpoint import discard_state, has_checkpoint
from gan_app.core.config import RunConfig
from gan_app.core.errors import GanAppError, UsageError
from gan_app.live.commands import TrainerCommands
from gan_app.live.publish import build_snapshot, generator_weights
from gan_app.live.types import ALLOWED, CHUNK_SECONDS, GRID_MAX_S, GRID_MIN_S, Snapshot
from gan_app.live.view import RunView
from gan_app.runs.run import Run, read_run_config
from gan_app.runs.dirs import DASHBOARD_EXPORT, check_export_target
from gan_app.models.graph import describe_pair
from gan_app.runs.lock import Ownership, RunLocked
from gan_app.train.slowmo import RunSlowMotion
from gan_app.train.step import TrainingStep, device_name

__all__ = ["LiveTrainer", "RunConfig", "Snapshot"]

log = logging.getLogger(__name__)
_RUN_IDS = itertools.count()  # unique in the process, so a cache keyed by run never mixes two trainers' runs
DASHBOARD_COMMAND = "streamlit run dashboard.py"


class LiveTrainer(TrainerCommands):
    """Thread-safe; one per server process (gan_app.ui.common.get_trainer)."""

    def __init__(
        self,
        config: RunConfig | None = None,
        build_step: Callable[..., TrainingStep] | None = None,
        checkpoint_dir: Path | None = None,
        grid_every: int = 20,
    ) -> None:
        """`build_step(preset, images, seed)` makes the step object (default: the config's).
        `checkpoint_dir` is the run directory; a run saved there is resumed at once.
        `grid_every`: steps between live grids (a setting of the dashboard, not of the run)."""
        self._build_step = build_step
        self._home = checkpoint_dir  # the server's own run directory (Reset returns to it)
        self._dir = checkpoint_dir
        self._meter: Any = None  # outlives runs: the real digits' statistics never change
        self._lock = threading.Lock()
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._config = config or RunConfig()
        self._grid_every = grid_every
        self._grid_at = 0.0  # monotonic time of the last live grid
        self._device = device_name()  # known before anything is built, so the page can say it
        self._run_id = next(_RUN_IDS)
        self._snapshot = Snapshot(config=self._config, device=self._device, run_id=self._run_id, run_dir=self._dir)
        self._version = 0  # of the published snapshot
        self._run: Run | None = None  # worker-only from here on
        self._writer = Ownership()  # the writer lock of the run directory this trainer owns
        self._clear()
        if checkpoint_dir is not None and has_checkpoint(checkpoint_dir):
            self._send("open_run", checkpoint_dir)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

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
                self._thread = threading.Thread(target=self._loop, name="gan-trainer", daemon=True)
                self._thread.start()
        self._commands.put((command, arg))

    # ---- worker thread --------------------------------------------------------------------
    def _clear(self) -> None:
        """What the page shows of a run that has not trained yet."""
        self._status = "idle"
        self._message = ""
        self._view = RunView()
        self._rate = 0.0  # of the compiled call alone: sizes the chunks
        self._traced = False
        self._weights_version = 0
        self._checkpoint_step = -1
        self._slow = RunSlowMotion()

    def _loop(self) -> None:
        while True:
            running = self._status == "running"
            try:
                command, arg = self._commands.get_nowait() if running else self._commands.get()
            except queue.Empty:
                command, arg = None, None
            if command == "close":
                self._save_on_close()
                self._close_run()
                self._writer.keep(None)
                return
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
            self._publish()

    def _fail(self, message: str) -> None:
        self._status = "error"
        self._message = message

    def _handle(self, command: str, arg: Any) -> None:
        if command == "ping":
            arg.set()
        elif command in ALLOWED and self._status not in ALLOWED[command]:
            return  # another tab's click from the state before: nothing to do
        elif command in ("start", "resume"):
            self._finish_slow()
            if command == "start":
                self._ensure_run()
            self._status, self._message = "running", ""
            self._view.restart_clock()  # a pause is not training time
        elif command in ("pause", "stop"):
            self._status = "paused" if command == "pause" else "stopped"
        elif command == "save":
            self._save(explicit=True)
        elif command == "live":
            self._config = dataclasses.replace(self._config, **arg)
            if self._run is not None:
                self._run.set_live(**arg)
        elif command == "grid_every":
            self._grid_every = arg
        else:
            handlers = {"reset": self._reset, "open_run": self._open_run, "copy_generator": self._copy_generator,
                        "export": self._export, "step": self._single_step, "slow": self._slow_step,
                        "model_diagram": self._model_diagram}
            handlers[command](arg)

    def _new_run(self, config: RunConfig, run_dir: Path | None, resume: bool, commands: list[str]) -> Run:
        run = Run(config, run_dir, resume=resume, commands=commands, build_step=self._build_step, meter=self._meter)
        self._meter = self._meter or run.meter  # the classifier and the real digits' statistics load once
        return run

    def _ensure_run(self) -> None:
        if self._run is not None:
            return
        lock = self._writer.take(self._dir)  # RunLocked: another process trains this directory
        self._message = "building the models..."
        self._publish()
        try:
            self._run = self._new_run(self._config, self._dir, resume=False, commands=[DASHBOARD_COMMAND])
        except BaseException:
            self._writer.drop(lock)
            raise
        self._writer.keep(lock)
        self._message = ""
        self._draw_grid()

    def _reset(self, config: RunConfig | None) -> None:
        try:
            lock = self._writer.take(self._home)
        except RunLocked as exc:
            self._message = str(exc)  # the run goes on as it was
            return
        self._close_run()
        self._writer.keep(lock)
        if config is not None:
            self._config = config
        self._run_id = next(_RUN_IDS)
        self._clear()
        self._dir = self._home  # an opened run is left as it was saved; the server's own run starts over
        if self._dir is not None:
            discard_state(self._dir)  # Reset discards the run: a restart must not bring it back

    def _open_run(self, run_dir: Path) -> None:
        self._message = f"opening {run_dir}..."
        self._publish()
        try:
            config, commands = read_run_config(run_dir)  # reads only: a folder that is no run stays as it was
            if not config.checkpoint_every:  # a CLI run without --checkpoint-every: a live run keeps saving
                config = config.replace(checkpoint_every=RunConfig.checkpoint_every)
            lock = self._writer.take(run_dir)
            try:
                run = self._new_run(config, run_dir, resume=True, commands=[*commands, DASHBOARD_COMMAND])
            except BaseException:
                self._writer.drop(lock)
                raise
        except GanAppError as exc:
            self._message = str(exc) if isinstance(exc, RunLocked) else f"{run_dir} cannot be continued: {exc}"
            if self._run is None:
                self._status = "error"  # nothing else to show; Start trains a fresh run
            return  # the current run goes on as it was
        if self._run is not None and self._run.state is not None and self._dir != run_dir:
            self._run.save()  # nothing of the current run is lost
        self._close_run()
        self._writer.keep(lock)
        self._run, self._dir, self._config = run, run_dir, config
        self._run_id = next(_RUN_IDS)
        self._clear()
        self._checkpoint_step = run.saved_step
        self._weights_version += 1
        self._status = "paused"
        where = "" if run_dir == self._home else f" in {run_dir}"
        self._message = f"Resumed the saved run{where} at step {run.step:,}: press Resume to continue training."
        self._draw_grid()

    def _draw_grid(self) -> None:
        if self._run is not None:
            self._view.draw_grid(self._run)
            self._grid_at = time.monotonic()

    def _grid_due(self, step: int) -> bool:
        """A live grid is due every `grid_every` steps, but at most every GRID_MIN_S seconds (a
        GPU at hundreds of steps a second does not draw dozens of grids a second) and at least
        every GRID_MAX_S seconds while training (a slow CPU still shows a fresh grid)."""
        since = time.monotonic() - self._grid_at
        return since >= GRID_MAX_S or (step % self._grid_every == 0 and since >= GRID_MIN_S)

    def _save_on_close(self) -> None:
        """A server stop keeps every step trained: the run continues from here after a restart."""
        run = self._run
        if run is not None and run.state is not None and run.step > run.saved_step and run.nan is None:
            try:
                run.save()
            except Exception:  # a full disk must not keep the server from stopping
                log.error("could not save the run on shutdown:\n%s", traceback.format_exc())

    def _close_run(self) -> None:
        if self._run is not None:
            self._run.close()
            self._run = None

    def _single_step(self, which: str) -> None:
        self._ensure_run()
        self._finish_slow()
        run = self._run
        assert run is not None
        if which == "both":
            run.train(1)
        else:
            t0 = time.perf_counter()
            rows = (run.step_obj.step_d if which == "d" else run.step_obj.step_g)()  # type: ignore[attr-defined]
            run.record(rows, seconds=time.perf_counter() - t0)
        self._stepped()

    def _slow_step(self, _: Any) -> None:
        self._ensure_run()
        assert self._run is not None
        self._slow.advance(self._run)
        self._stepped()  # every sub-step may have changed a weight

    def _finish_slow(self) -> None:
        if self._run is not None and self._slow.finish(self._run):
            self._stepped()

    def _stepped(self) -> None:
        self._weights_version += 1
        self._check_nan()
        self._draw_grid()
        if self._status in ("idle", "error"):
            self._status, self._message = "paused", ""

    def _train_chunk(self) -> None:
        run = self._run
        assert run is not None
        n = max(1, int(self._rate * CHUNK_SECONDS))
        if time.monotonic() - self._grid_at >= GRID_MIN_S:  # a grid may be due: end the chunk on a grid point
            n = min(n, self._grid_every - run.step % self._grid_every)
        t0 = time.perf_counter()
        run.train(n)
        dt = max(time.perf_counter() - t0, 1e-6)
        if self._traced:  # the first call traces the step: not a speed
            self._rate = n / dt if self._rate == 0.0 else 0.7 * self._rate + 0.3 * n / dt
        self._traced = True
        self._weights_version += 1
        self._checkpoint_step = run.saved_step
        self._view.trained(run.step)
        if self._check_nan() or self._grid_due(run.step):
            self._draw_grid()

    def _check_nan(self) -> bool:
        run = self._run
        if run is None or run.nan is None:
            return False
        self._status = "paused"
        self._message = f"{run.nan}: training paused. Lower the learning rates, or Reset."
        return True

    def _copy_generator(self, reply: dict[str, Any]) -> None:
        self._answer(reply, lambda run: generator_weights(run, self._weights_version, self._run_id))

    def _model_diagram(self, reply: dict[str, Any]) -> None:
        self._answer(reply, lambda run: describe_pair(run.step_obj.generator, run.step_obj.discriminator, run.preset))

    def _answer(self, reply: dict[str, Any], read: Callable[[Run], Any]) -> None:
        try:
            if self._run is not None:
                reply["answer"] = read(self._run)
        finally:
            reply["done"].set()

    def _save(self, explicit: bool) -> None:
        if self._run is None or self._run.state is None:
            raise UsageError("nothing to save yet: press Start or a Step button first")
        self._run.save()
        self._checkpoint_step = self._run.saved_step
        if explicit:
            self._message = f"Checkpoint saved at step {self._run.step:,} in {self._dir}."

    def _export(self, target: tuple[Path, bool]) -> None:
        directory, replace = target
        if self._run is None:
            raise UsageError("nothing to export yet: press Start or a Step button first")
        try:
            check_export_target(directory, replace)  # again: the folder may have changed since the click
        except GanAppError as exc:
            self._message = str(exc)  # the run goes on; nothing was written
            return
        self._run.export(directory, exported_by=DASHBOARD_EXPORT)
        self._message = f"Exported the generator at step {self._run.step:,} to {directory}."

    def _publish(self) -> None:
        self._version += 1
        snap = build_snapshot(
            version=self._version, status=self._status, message=self._message, run=self._run, view=self._view,
            device=self._device, config=self._config, run_dir=self._dir, grid_every=self._grid_every,
            run_id=self._run_id, weights_version=self._weights_version, checkpoint_step=self._checkpoint_step,
            slowmo=self._slow.frame if self._status != "running" else None)
        with self._lock:
            self._snapshot = snap
