"""`bench --replicas N --viewers V ...`: a lecture hall on this machine. Redis, the class's
trainer (`python -m gan_app trainer`, pinned to the first core) and N dashboard replicas
(GAN_APP_BROKER, pinned with Redis to the other cores; this bench's emulated tabs run there too,
so the trainer's core is its own). A teacher's tab presses Start on the first replica; then, for
each class size V, V emulated tabs watch the Train page, spread evenly over the replicas.

Reported per size: the trainer's speed (and `speed_kept` against the 0-tab row of the same
trainer), refresh p95 (the curves encoded by a replica -> received by a tab), live lag p95 (the
trainer made the snapshot -> a tab received it, through Redis and a replica), errors, and each
replica's CPU per 100 of its tabs.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable

from gan_app.bench.students import _cpu_s
from gan_app.bench.tab import EmulatedViewer, ViewerStats
from gan_app.bench.viewers import _logged_errors, _read_step, add_logged, pct, start_training

TRAINER_CORE = "0"


def _other_cores() -> str:
    count = os.cpu_count() or 1
    return "1" if count == 2 else (f"1-{count - 1}" if count > 2 else "0")


async def _watch(urls: list[str], v: int, seconds: float, pids: list[int]) -> dict[str, Any]:
    stats = ViewerStats()
    viewers = [EmulatedViewer(urls[i % len(urls)], stats, name=f"viewer {i}") for i in range(v)]
    for i in range(0, v, 10):  # a hall arrives over a few seconds
        batch = viewers[i : i + 10]
        await asyncio.gather(*(t.connect() for t in batch))
        await asyncio.gather(*(t.load_page(timeout=180) for t in batch))
    await asyncio.sleep(min(5.0, seconds / 4))
    cpu0 = [_cpu_s(pid) or 0.0 for pid in pids]
    t0, s0 = await _read_step(urls[0], stats)
    for t in viewers:
        t.measuring = True
    await asyncio.sleep(seconds)
    for t in viewers:
        t.measuring = False
    t1, s1 = await _read_step(urls[0], stats)
    cpu = [((_cpu_s(pid) or 0.0) - c) / (t1 - t0) for pid, c in zip(pids, cpu0)]
    await asyncio.gather(*(t.close() for t in viewers))
    per_replica = v / len(urls)
    return {
        "viewers": v, "seconds": round(t1 - t0, 1), "steps_per_s": round((s1 - s0) / (t1 - t0), 2),
        "refresh_p50_ms": pct(stats.latencies_ms, 0.5), "refresh_p95_ms": pct(stats.latencies_ms, 0.95),
        "live_lag_p50_ms": pct(stats.trainer_lags_ms, 0.5), "live_lag_p95_ms": pct(stats.trainer_lags_ms, 0.95),
        "push_p95_ms": pct(stats.live_lags_ms, 0.95),  # a replica's push -> the tab (the tab takes one a second)
        "replica_cpu": [round(c, 3) for c in cpu],
        "replica_cpu_per_100_tabs": (round(sum(cpu) / len(cpu) * 100 / per_replica, 3) if per_replica else None),
        "errors": sum(stats.errors.values()), "error_kinds": dict(stats.errors),
        "error_examples": stats.error_examples[:3],
    }


def bench_replicas(replicas: int, viewers: list[int], seconds: float, preset: str,
                   warmup_steps: int = 200) -> Iterable[dict[str, Any]]:
    """One hall (Redis, a trainer, `replicas` dashboard servers), then a row per class size."""
    from gan_app.bench.hall import RedisServer, TrainerProcess
    from gan_app.bench.server import DashboardServer

    others = _other_cores()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(c) for c in range(1, os.cpu_count() or 2)})  # the emulated tabs: not the trainer's core
    with tempfile.TemporaryDirectory(prefix="gan-app-hall-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis = stack.enter_context(RedisServer(cores=others))
        env = {"GAN_APP_BROKER": redis.url, "GAN_APP_CHECKPOINTS": str(root / "checkpoints"),
               "GAN_APP_PRESET": preset}
        trainer = stack.enter_context(TrainerProcess(redis.url, root / "run", preset=preset,
                                                     log_path=root / "trainer.log", cores=TRAINER_CORE))
        servers = [stack.enter_context(DashboardServer(env=env, log_path=root / f"replica{i}.log", cores=others))
                   for i in range(replicas)]
        urls = [s.url for s in servers]
        pids = [s.proc.pid for s in servers]
        trainer.wait_online(redis.url)
        asyncio.run(start_training(urls[0], ViewerStats(), warmup_steps))
        base = None
        for v in viewers:
            row = asyncio.run(_watch(urls, v, seconds, pids))
            logged = [line for i in range(replicas) for line in _logged_errors(
                (root / f"replica{i}.log").read_text(errors="replace"))]
            add_logged(row, logged + _logged_errors((root / "trainer.log").read_text(errors="replace")))
            if v == 0:
                base = row["steps_per_s"]
            row["speed_kept"] = round(row["steps_per_s"] / base, 3) if base else None
            yield {"preset": preset, "replicas": replicas, "trainer_core": TRAINER_CORE, "replica_cores": others, **row}
