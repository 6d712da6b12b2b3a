"""A real `streamlit run dashboard.py` on a free loopback port, started and stopped as
Streamlit's own browser tests start theirs: for the browser tests, the emulated viewers and the
benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def pinned(cores: str | None) -> list[str]:
    """The command prefix that keeps a process on `cores` ("0", "1-3"; taskset), none for all."""
    return ["taskset", "-c", cores] if cores and shutil.which("taskset") else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """`streamlit run dashboard.py` on a free loopback port, as Streamlit's own e2e tests start it."""

    def __init__(self, env: dict[str, str] | None = None, log_path: Path | None = None, base_path: str = "",
                 cores: str | None = None) -> None:
        """`base_path`: Streamlit's server.baseUrlPath (the dashboard behind a proxy's prefix);
        `url` then ends with it. `cores`: the CPUs it may use (taskset), all by default."""
        self.port = free_port()
        self.base_path = base_path.strip("/")
        self.url = f"http://127.0.0.1:{self.port}" + (f"/{self.base_path}" if self.base_path else "")
        # a fresh checkpoints folder unless the caller shares one (a restart test does)
        scratch = {"GAN_APP_CHECKPOINTS": tempfile.mkdtemp(prefix="gan-app-e2e-")}
        self.env = {**os.environ, "GAN_APP_OFFLINE": "1", **scratch, **(env or {})}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.pinned = pinned(cores)

    def __enter__(self) -> "DashboardServer":
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [*self.pinned, sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             *(["--server.baseUrlPath", self.base_path] if self.base_path else [])],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    return self
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("streamlit did not answer within 60 s")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
