"""Files the pages load beside Streamlit's own: sent gzipped where the browser takes it
(compressed once, never per request), under URLs that name their version, so a browser keeps
them for a year and a class fetches each once per student."""

from __future__ import annotations

import asyncio
import gzip
import importlib.metadata
import importlib.util
import threading
from pathlib import Path
from typing import Any

IMMUTABLE = "public, max-age=31536000, immutable"
JAVASCRIPT = "text/javascript; charset=utf-8"


def file_response(data: bytes, zipped: bytes | None, kind: str, request: Any, headers: dict[str, str]) -> Any:
    """`data` as it is, or gzipped once already where the browser takes gzip (Streamlit's own
    compression then leaves it alone: it has a Content-Encoding)."""
    from starlette.responses import Response

    headers = {**headers, "Vary": "Accept-Encoding"}
    if zipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        data = zipped
    return Response(data, media_type=kind, headers=headers)


class VendorScript:
    """A library's script from its installed, pinned package (never a CDN), read and gzipped on
    the first request (in a worker thread, once, whoever asks first)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._files: tuple[bytes, bytes] | None = None

    def _load(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._files is None:
                data = self.path.read_bytes()
                self._files = (data, gzip.compress(data, 6, mtime=0))
            return self._files

    async def response(self, request: Any) -> Any:
        data, zipped = self._files or await asyncio.to_thread(self._load)
        return file_response(data, zipped, JAVASCRIPT, request, {"Cache-Control": IMMUTABLE,
                                                                 "X-Content-Type-Options": "nosniff"})


PLOTLY_VERSION = importlib.metadata.version("plotly")


def plotly_js() -> VendorScript:
    """plotly.js as the pinned plotly package ships it (it sets `window.Plotly`)."""
    spec = importlib.util.find_spec("plotly")
    assert spec is not None and spec.origin is not None, "plotly is a requirement"
    return VendorScript(Path(spec.origin).parent / "package_data" / "plotly.min.js")
