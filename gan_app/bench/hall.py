"""A lecture hall on loopback ports, for `bench --replicas` and the tests: a throwaway Redis
(Debian's redis-server, no persistence), the class's trainer as its own process
(`python -m gan_app trainer`) and dashboard replicas (gan_app.bench.server.DashboardServer with
GAN_APP_BROKER), each optionally pinned to CPU cores (taskset)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gan_app.bench.server import ROOT, free_port, pinned

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """redis-server on a free loopback port; stop() and start() again keep the port (a restart)."""

    def __init__(self, cores: str | None = None) -> None:
        self.pinned = pinned(cores)
        if not Path(REDIS).exists():
            raise RuntimeError(f"no redis-server at {REDIS}: apt-get install redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen([*self.pinned, REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        from gan_app.broker.keys import connect

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if connect(self.url).ping():
                    return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not answer within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class TrainerProcess:
    """`python -m gan_app trainer --broker URL --run DIR` (killed with `kill()`, as a crash is)."""

    def __init__(self, url: str, run_dir: Path, preset: str = "fast", log_path: Path | None = None,
                 cores: str | None = None, env: dict[str, str] | None = None) -> None:
        self.args = [*pinned(cores), sys.executable, "-m", "gan_app", "trainer", "--broker", url,
                     "--run", str(run_dir), "--preset", preset]
        self.env = {**os.environ, "GAN_APP_OFFLINE": "1", **(env or {})}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "TrainerProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """As Ctrl-C does: it saves a checkpoint and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_online(self, url: str, timeout: float = 180.0) -> None:
        """Until the trainer's heartbeat is in Redis (it builds nothing before a Start: ~10 s)."""
        from gan_app.broker import keys

        client = keys.connect(url)
        deadline = time.monotonic() + timeout
        while client.get(keys.ALIVE) is None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the trainer exited with code {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the trainer was not online within {timeout:.0f} s")
            time.sleep(0.2)
        client.close()

    def __enter__(self) -> "TrainerProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
