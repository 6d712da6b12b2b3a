"""What the live trainer publishes of its run: the immutable Snapshot every page and the live
channel read, and copies of G's and D's weights for the latent lab. Both are built by the
trainer's worker thread from the run it owns (gan_app.live.trainer); nothing here keeps state."""

from __future__ import annotations

import time

from pathlib import Path

import numpy as np

from gan_app.core.config import RunConfig
from gan_app.lab.model import GeneratorWeights
from gan_app.live.types import Snapshot
from gan_app.live.view import RunView
from gan_app.runs.run import Run


def build_snapshot(
    *,
    version: int,
    status: str,
    message: str,
    run: Run | None,
    view: RunView,
    device: str,
    config: RunConfig,
    run_dir: Path | None,
    grid_every: int,
    run_id: int,
    weights_version: int,
    checkpoint_step: int,
    slowmo: dict | None = None,
) -> Snapshot:
    """The run as a page shows it now: numbers, curves (copied at most once a second while
    running, by `view`), the latest grid and its history, quality and checkpoints."""
    running = status == "running"
    steps, rows = view.curves(run, running)
    rate = view.rate(running)
    q_steps, q_rows = run.quality.arrays() if run is not None else (np.zeros(0), np.zeros((0, 3)))
    elapsed = run.elapsed if run is not None else 0.0
    return Snapshot(
        made_at=time.time(),
        version=version,
        status=status,
        message=message,
        step=run.step if run is not None else 0,
        steps_per_s=rate,
        images_per_s=rate * (run.preset.batch_size if run is not None else 0),
        elapsed_s=elapsed,
        device=device,
        config=config,
        run_dir=run_dir,
        grid_every=grid_every,
        history_steps=steps,
        history=rows,
        history_version=view.history_version,
        grid_png=view.grid_png,
        grid_step=view.grid_step,
        grid_scores=view.grid_scores,
        grid_columns=view.grid_columns,
        frames=tuple(view.frames.frames),
        run_id=run_id,
        weights_version=weights_version,
        quality_steps=q_steps,
        quality=q_rows,
        histogram=run.quality.histogram if run is not None else (),
        label_accuracy=run.quality.label_accuracy if run is not None else None,
        quality_note=run.quality_note if run is not None else "",
        quality_cost=run.quality.seconds / elapsed if run is not None and elapsed else 0.0,
        checkpoint_step=checkpoint_step,
        slowmo=slowmo,
    )


def generator_weights(run: Run, weights_version: int, run_id: int) -> GeneratorWeights:
    """Copies of the run's sampling generator and of D, of the same step, for the latent lab."""
    p = run.preset
    return GeneratorWeights(
        p.name, run.step, weights_version, run_id,
        tuple(w.copy() for w in run.step_obj.sampler.get_weights()), p.noise, p.output_min, p.output_max,
        tuple(w.copy() for w in run.step_obj.discriminator.get_weights()))
