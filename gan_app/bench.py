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


def steps_per_second(step: FusedStep | ClassicStep, steps: int, warmup: int, repeats: int = 3) -> float:
    """Best of `repeats` timings of `steps` steps, after `warmup` steps that trace and warm caches."""
    step.train(warmup)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        step.train(steps)  # fused: all steps in one compiled call; classic: the tutorial's Python loop
        best = max(best, steps / (time.perf_counter() - t0))
    return best


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


def _steps_rate(read_step, seconds: float, warmup_steps: int = 40) -> float:
    """Steps per second from a step counter, after the run has traced and warmed up."""
    deadline = time.monotonic() + 120
    while read_step() < warmup_steps:
        if time.monotonic() > deadline:
            raise RuntimeError("training did not warm up within 120 s")
        time.sleep(0.2)
    s0, t0 = read_step(), time.monotonic()
    time.sleep(seconds)
    return (read_step() - s0) / (time.monotonic() - t0)


def bench_dashboard(preset: Preset, seconds: float) -> dict:
    """Training speed of the dashboard's trainer alone, then inside a real `streamlit run`
    server with one Chromium tab open at the default refresh, clicking Start like a teacher."""
    from gan_app.e2e import DashboardServer, open_page, read_step
    from gan_app.trainer import Settings, Trainer

    settings = Settings(preset=preset.name, batch_size=preset.batch_size)
    trainer = Trainer(settings)
    trainer.start()
    try:
        headless = _steps_rate(lambda: trainer.snapshot().step, seconds)
    finally:
        trainer.close()
    with DashboardServer(env={"GAN_APP_PRESET": preset.name}) as server, open_page(server.url) as page:
        page.get_by_role("button", name="Start", exact=True).click()
        with_viewer = _steps_rate(lambda: read_step(page), seconds)
    return {
        "preset": preset.name,
        "batch_size": preset.batch_size,
        "device": device_name(),
        "seconds": seconds,
        "headless_steps_per_s": round(headless, 2),
        "with_viewer_steps_per_s": round(with_viewer, 2),
        "ratio": round(with_viewer / headless, 3),
    }
