"""Benchmarks printed as one JSON line each (`python -m gan_app bench ...`). Timings live here,
never in tests."""

from __future__ import annotations

import os
import time

from gan_app.config import Preset
from gan_app.data import DEFAULT_DATASET, load_dataset, scale_to_range
from gan_app.step import ClassicStep, FusedStep, make_step


def device_name() -> str:
    """The GPU TensorFlow trains on, else the CPU with its core count."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return str(details.get("device_name", "GPU"))
    return f"CPU ({os.cpu_count()} cores)"


def steps_per_second(step: FusedStep | ClassicStep, steps: int, warmup: int) -> float:
    step.train(warmup)  # traces and warms caches
    t0 = time.perf_counter()
    step.train(steps)  # fused: all steps in one compiled call; classic: the tutorial's Python loop
    return steps / (time.perf_counter() - t0)


def bench_modes(preset: Preset, steps: int, warmup: int) -> dict:
    """Fused against classic training in one process, each after its own warm-up."""
    images = scale_to_range(load_dataset(DEFAULT_DATASET).x, preset.output_min, preset.output_max)
    rates = {mode: steps_per_second(make_step(mode, preset, images, seed=0), steps, warmup) for mode in ("fused", "classic")}
    return {
        "preset": preset.name,
        "batch_size": preset.batch_size,
        "device": device_name(),
        "fused_steps_per_s": round(rates["fused"], 2),
        "classic_steps_per_s": round(rates["classic"], 2),
        "speedup": round(rates["fused"] / rates["classic"], 2),
    }
