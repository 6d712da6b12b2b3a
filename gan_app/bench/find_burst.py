"""`bench --find-burst N`: N students press Find within a few seconds while the run trains.

In one process, as on the dashboard's server: the live trainer trains `fast` in its thread,
and N threads (the students' page runs) each ask the lab's FindQueue to find a held-out digit
in the shipped generator's latent space, spread over `spread_s` seconds. It reports when each
was answered, how the searches were batched, and the training speed during the burst against
the speed just before it.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _speed(trainer: Any, seconds: float) -> float:
    s0, t0 = trainer.snapshot().step, time.perf_counter()
    time.sleep(seconds)
    return (trainer.snapshot().step - s0) / (time.perf_counter() - t0)


def bench_find_burst(n: int, spread_s: float = 5.0, preset: str = "fast") -> dict[str, Any]:
    from gan_app.checkpoint import SHIPPED_EXPORT, open_export
    from gan_app.classifier import split
    from gan_app.config import RunConfig
    from gan_app.data import load_dataset
    from gan_app.find_queue import FindQueue
    from gan_app.live import LiveTrainer
    from gan_app.project import Projector

    export = open_export(SHIPPED_EXPORT)
    projector = Projector(export.generator, export.meta)
    ds = load_dataset("mnist5k")
    held = np.random.default_rng(2).permutation(split(ds)[1])[:n]
    projector.project_many([ds.x[held[0]]], steps=2)  # traced once, as after a first Find
    queue = FindQueue()
    trainer = LiveTrainer(RunConfig(preset=preset), checkpoint_dir=Path(tempfile.mkdtemp(prefix="gan-app-find-")) / "live")
    answered: list[float] = []
    errors: list[str] = []
    try:
        trainer.start()
        while trainer.snapshot().step < 200:
            time.sleep(0.2)
        before = _speed(trainer, 10.0)
        start = time.perf_counter()

        def student(i: int) -> None:
            time.sleep(spread_s * i / max(1, n - 1))
            asked = time.perf_counter()
            try:
                found = queue.find("shipped", lambda: projector, ds.x[held[i]])
                if found is None:
                    errors.append("queue full")
                else:
                    answered.append(time.perf_counter() - asked)
            except RuntimeError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=student, args=(i,)) for i in range(n)]
        s0 = trainer.snapshot().step
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        burst_s = time.perf_counter() - start
        during = (trainer.snapshot().step - s0) / burst_s
    finally:
        trainer.close()
    return {"students": n, "spread_s": spread_s, "answered": len(answered), "errors": len(errors),
            "slowest_answer_s": round(max(answered), 2) if answered else None,
            "median_answer_s": round(float(np.median(answered)), 2) if answered else None,
            "batches": queue.batches, "burst_s": round(burst_s, 1),
            "steps_per_s_before": round(before, 2), "steps_per_s_during": round(during, 2),
            "speed_kept": round(during / before, 3) if before else None}
