"""`bench --viewers`: a class of emulated tabs on a fresh server per class size."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterable

from gan_app.bench.tab import EmulatedViewer, ViewerStats
from gan_app.lab.find_queue import SEARCHED


def _rss_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def _read_step(url: str, stats: ViewerStats) -> tuple[float, int]:
    """(time, Step) as a tab that opens the page now sees it."""
    probe = EmulatedViewer(url, stats, name="probe")
    try:
        await probe.connect()
        await probe.load_page()
        return time.perf_counter(), int(probe.page.metrics["Step"].replace(",", ""))
    finally:
        await probe.close()


async def start_training(url: str, stats: ViewerStats, warmup_steps: int) -> None:
    """A teacher's tab presses Start; returns once the run is past `warmup_steps` (the models
    are built and traced)."""
    teacher = EmulatedViewer(url, stats, name="teacher")
    await teacher.connect()
    await teacher.load_page()
    await teacher.click("Start")
    await teacher.close()
    deadline = time.monotonic() + 180
    while (await _read_step(url, stats))[1] < warmup_steps:
        if time.monotonic() > deadline:
            raise RuntimeError("training did not start within 180 s")
        await asyncio.sleep(1.0)


async def _arrive(url: str, n: int, stats: ViewerStats, page: str, seconds: float) -> list[EmulatedViewer]:
    """n tabs open `page`, ten at a time (a class arrives over a few seconds, not in one instant),
    then every tab's sockets settle before a window of `seconds` starts."""
    viewers = [EmulatedViewer(url, stats, name=f"viewer {i}") for i in range(n)]
    for v in viewers:
        v.page_name = "" if page == "train" else page  # "": the first page, Train
    for i in range(0, n, 10):
        batch = viewers[i : i + 10]
        await asyncio.gather(*(v.connect() for v in batch))
        await asyncio.gather(*(v.load_page(timeout=120) for v in batch))
    await asyncio.sleep(min(5.0, seconds / 4))
    return viewers


async def _speed(url: str, stats: ViewerStats, seconds: float, viewers: list[EmulatedViewer]) -> tuple[float, float]:
    """(steps/s, seconds) over one window; the tabs' timings count only inside it."""
    t0, s0 = await _read_step(url, stats)
    for v in viewers:
        v.measuring = True
    await asyncio.sleep(seconds)
    for v in viewers:
        v.measuring = False
    t1, s1 = await _read_step(url, stats)
    return (s1 - s0) / (t1 - t0), t1 - t0


def _timings(n: int, page: str, stats: ViewerStats) -> dict[str, Any]:
    return {
        "viewers": n,
        "page": page,
        # the numbers and curves brought up to date: pushed curves encoded -> received by the tab
        "refresh_p50_ms": pct(stats.latencies_ms, 0.50),
        "refresh_p95_ms": pct(stats.latencies_ms, 0.95),
        "refreshes": len(stats.latencies_ms),
        # the live panel's pushed updates: encoded -> received
        "live_p50_ms": pct(stats.live_lags_ms, 0.50),
        "live_p95_ms": pct(stats.live_lags_ms, 0.95),
        "live_updates": len(stats.live_lags_ms),
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors),
        "error_examples": stats.error_examples[:3],
        "image_gets": stats.image_gets,
        "mb_sent_to_viewers": round(stats.bytes_received / 1e6, 1),
    }


async def _class_of(url: str, n: int, seconds: float, warmup_steps: int, server_pid: int,
                    page: str = "train") -> dict[str, Any]:
    stats = ViewerStats()
    await start_training(url, stats, warmup_steps)
    viewers = await _arrive(url, n, stats, page, seconds)
    rss_start = _rss_mb(server_pid)
    cpu0 = time.process_time()
    rss_by_minute: list[float | None] = []

    async def sample_rss() -> None:
        while True:
            await asyncio.sleep(60.0)
            rss_by_minute.append(_rss_mb(server_pid))

    sampler = asyncio.ensure_future(sample_rss())
    speed, took = await _speed(url, stats, seconds, viewers)
    sampler.cancel()
    emulator_cpu = time.process_time() - cpu0
    rss_end = _rss_mb(server_pid)
    await asyncio.gather(*(v.close() for v in viewers))
    return {
        **_timings(n, page, stats),
        "seconds": round(took, 1),
        "steps_per_s": round(speed, 2),
        "server_rss_mb_start": rss_start,
        "server_rss_mb_end": rss_end,
        "server_rss_mb_by_minute": rss_by_minute,
        "emulator_cpu_share": round(emulator_cpu / took, 3),
    }


async def _alternating(url: str, n: int, seconds: float, warmup_steps: int, rounds: int,
                       page: str = "train") -> dict[str, Any]:
    """On one server: nobody watching, n tabs, nobody, n tabs, ... nobody (`rounds` windows with
    the class, each between two without). Each watched window is compared with the mean of the
    two around it, so the host's own drift in speed (minutes apart) cancels."""
    stats = ViewerStats()
    await start_training(url, stats, warmup_steps)
    unwatched = [(await _speed(url, stats, seconds, []))[0]]
    watched = []
    for _ in range(rounds):
        viewers = await _arrive(url, n, stats, page, seconds)
        watched.append((await _speed(url, stats, seconds, viewers))[0])
        await asyncio.gather(*(v.close() for v in viewers))
        await asyncio.sleep(min(5.0, seconds / 4))  # the server lets the closed sessions go
        unwatched.append((await _speed(url, stats, seconds, []))[0])
    ratios = [w / ((unwatched[i] + unwatched[i + 1]) / 2) for i, w in enumerate(watched)]
    return {
        **_timings(n, page, stats),
        "seconds": seconds,
        "steps_per_s": round(sum(watched) / rounds, 2),
        "unwatched_steps_per_s": round(sum(unwatched) / len(unwatched), 2),
        "windows_steps_per_s": {"watched": [round(w, 2) for w in watched],
                                "unwatched": [round(u, 2) for u in unwatched]},
        "ratios": [round(r, 3) for r in ratios],
        "ratio_to_0": round(sum(ratios) / rounds, 3),
    }


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile of `values` (nearest rank), rounded to 0.1; None when empty."""
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else None


def add_logged(row: dict[str, Any], logged: list[str]) -> None:
    """Errors a server logged (tracebacks, ERROR lines) count among a bench row's errors."""
    row["errors"] += len(logged)
    if logged:
        row["error_kinds"]["logged by a server"] = len(logged)
        row["error_examples"] = (row["error_examples"] + logged)[:3]


def _logged_errors(log_text: str) -> list[str]:
    lines = log_text.splitlines()
    return [line for line in lines if "Traceback" in line or " ERROR " in line or "Exception" in line]


def on_fresh_servers(counts: list[int], preset: str, prefix: str,
                     measure: Callable[[str, int, int], dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """For each class size n: a fresh `streamlit run dashboard.py` on a free loopback port with a
    scratch checkpoints folder, and `measure(url, n, server pid)` (an asyncio-run class of n).
    Errors the server logged count as errors; `ratio_to_0` once a row with 0 has been measured."""
    import tempfile
    from pathlib import Path

    from gan_app.bench.server import DashboardServer

    base = None
    for n in counts:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            log = Path(tmp) / "server.log"
            env = {"GAN_APP_PRESET": preset, "GAN_APP_CHECKPOINTS": str(Path(tmp) / "checkpoints")}
            with DashboardServer(env=env, log_path=log) as server:
                row = measure(server.url, n, server.proc.pid)
            text = log.read_text(errors="replace")
            logged = _logged_errors(text)
        if "server_searched" in row:  # the server's Find queue logs every batch it searches
            row["server_searched"] = SEARCHED in text
        add_logged(row, logged)
        if n == 0:
            base = row["steps_per_s"]
        if "ratio_to_0" not in row:  # an alternating row compared its own windows
            row["ratio_to_0"] = round(row["steps_per_s"] / base, 3) if base else None
        yield {"preset": preset, **row}


def bench_viewers(counts: list[int], seconds: float, preset: str, warmup_steps: int = 200,
                  page: str = "train", alternate: int = 0) -> Iterable[dict[str, Any]]:
    """For each class size: a fresh server, Start pressed, then `n` emulated viewers of `page`
    ("train" or "learn") for `seconds`. Yields one result per size; `ratio_to_0` once a row with
    0 viewers has been measured. With `alternate` R, each size's server runs R windows with the
    class between R + 1 without, and `ratio_to_0` compares them (sizes of 0 are skipped)."""
    if alternate:
        return on_fresh_servers([n for n in counts if n], preset, "gan-app-viewers-", lambda url, n, pid: asyncio.run(
            _alternating(url, n, seconds, warmup_steps, alternate, page)))
    return on_fresh_servers(counts, preset, "gan-app-viewers-",
                            lambda url, n, pid: asyncio.run(_class_of(url, n, seconds, warmup_steps, pid, page)))
