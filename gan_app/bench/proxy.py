"""nginx in front of a lecture hall's replicas on a free loopback port, configured as
deploy/nginx.conf configures it (sticky by client address, websockets upgraded, the client's
address passed on): for the tests of a replica that dies. Debian's nginx, run as this user in
the foreground with its files in a folder of its own."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from gan_app.bench.server import ROOT, free_port

NGINX = "/usr/sbin/nginx"
SITE = ROOT / "deploy" / "nginx.conf"


def hall_config(site: str, replica_ports: list[int], port: int, folder: Path) -> str:
    """deploy/nginx.conf (`site`) with this machine's replicas and port, in a whole nginx.conf."""
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in replica_ports)
    if "    server replica:8501;" not in site or "    listen 80;" not in site:
        raise ValueError("deploy/nginx.conf no longer names `server replica:8501;` and `listen 80;`")
    site = site.replace("    server replica:8501;", servers).replace("    listen 80;", f"    listen 127.0.0.1:{port};")
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}\n{site}\n}}\n")


class NginxProxy:
    """`with NginxProxy([port_a, port_b], folder) as proxy:` serves the replicas at `proxy.url`."""

    def __init__(self, replica_ports: list[int], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(folder)
        self.replica_ports = list(replica_ports)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "NginxProxy":
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "nginx.conf"
        conf.write_text(hall_config(SITE.read_text(), self.replica_ports, self.port, self.folder))
        self.proc = subprocess.Popen([NGINX, "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.folder / "stderr.log", "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with code {self.proc.returncode}: "
                                   f"{(self.folder / 'stderr.log').read_text(errors='replace')[-400:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("nginx did not listen within 20 s")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
