"""What any thread may ask of the live trainer (gan_app.live.trainer): commands put on its queue, which
its worker thread carries out in order. Checks that need no run (a known step, a live field, an
export folder) fail here, in the caller's thread, with a message for the page."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gan_app.core.config import RunConfig
from gan_app.core.errors import UsageError
from gan_app.lab.model import GeneratorWeights
from gan_app.live.types import LIVE_FIELDS
from gan_app.runs.dirs import check_export_target


class TrainerCommands:
    """The commands half of LiveTrainer: everything here only sends."""

    _config: RunConfig

    def _send(self, command: str, arg: Any = None) -> None:
        raise NotImplementedError

    def _ask(self, command: str, timeout: float) -> Any:
        """Send a command that answers, and wait for its answer (None if none came in time)."""
        reply: dict[str, Any] = {"done": threading.Event()}
        self._send(command, reply)
        reply["done"].wait(timeout)
        return reply.get("answer")

    def start(self) -> None:
        self._send("start")

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def reset(self, config: RunConfig | None = None) -> None:
        if config is not None:
            config.validate()
        self._send("reset", config)

    def step_once(self, which: str) -> None:
        """One iteration while not running: 'd', 'g' or 'both' (GAN Lab's step mode)."""
        if which not in ("d", "g", "both"):
            raise UsageError(f"unknown step {which!r}; choose d, g or both")
        self._send("step", which)

    def slow_step(self) -> None:
        """The next sub-step of one iteration in slow motion while not running (gan_app.train.slowmo)."""
        self._send("slow")

    def open_run(self, run_dir: Path) -> None:
        """Continue the run saved in `run_dir` (by the CLI or a dashboard), paused at its last
        checkpoint. If it cannot be opened, the message says why and the current run goes on."""
        self._send("open_run", Path(run_dir))

    def apply_live(self, **changes: Any) -> None:
        """Learning rates, loss and k: applied to the running run without a restart."""
        unknown = set(changes) - set(LIVE_FIELDS)
        if unknown:
            raise UsageError(f"{', '.join(sorted(unknown))} cannot change live; use Reset (live: {', '.join(LIVE_FIELDS)})")
        self._config.replace(**changes)
        self._send("live", changes)

    def save_checkpoint(self) -> None:
        """Save the full training state now (it is also saved every checkpoint_every steps)."""
        if self._dir is None:
            raise UsageError("this server keeps no checkpoints")
        self._send("save")

    def export(self, directory: Path, replace: bool = False) -> None:
        """Write generator.keras + meta.json of the current generator (and D) into `directory`.
        Never over a shipped model, a run or a model exported elsewhere; over an earlier export
        of a dashboard only with `replace` (gan_app.runs.run.check_export_target says why not)."""
        check_export_target(Path(directory), replace)
        self._send("export", (Path(directory), replace))

    def copy_generator(self, timeout: float = 10.0) -> GeneratorWeights | None:
        """A copy of the live generator's weights (for the latent lab); None before any training."""
        return self._ask("copy_generator", timeout)

    def model_diagram(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """G and D of the current run, layer by layer (gan_app.models.graph); None before a run exists."""
        return self._ask("model_diagram", timeout)

    def set_grid_every(self, steps: int) -> None:
        """How often the live grid is drawn (a setting of this dashboard, not of the run)."""
        if steps <= 0:
            raise UsageError(f"sample interval must be > 0, got {steps}")
        self._send("grid_every", steps)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every command sent so far has been handled (tests, benchmarks)."""
        done = threading.Event()
        self._send("ping", done)
        return done.wait(timeout)

