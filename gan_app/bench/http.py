"""What an emulated tab says over HTTP: a minimal GET on loopback, as a browser asks (gzip
accepted), from a client address of its own."""

from __future__ import annotations

import asyncio
import contextlib


def emulated_address(n: int) -> str:
    """The client address of emulated tab `n`, from the benchmarking range 198.18.0.0/15: sent as
    X-Forwarded-For (which the server trusts from a loopback peer, as from a proxy on its own
    machine), so every emulated tab counts as its own client, as each student's browser does."""
    return f"198.18.{(n // 250) % 256}.{n % 250 + 1}"


async def http_get(host: str, port: int, path: str, cookie: str = "",
                   forwarded_for: str = "") -> tuple[int, dict[str, str], bytes]:
    """A minimal HTTP/1.1 GET on loopback: (status, lower-cased headers, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        # as a browser asks: compressed where the server compresses (the bytes counted are the wire's)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n"
        if cookie:
            request += f"Cookie: {cookie}\r\n"
        if forwarded_for:
            request += f"X-Forwarded-For: {forwarded_for}\r\n"
        writer.write((request + "\r\n").encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie":
            headers.setdefault("set-cookie", "")
            headers["set-cookie"] += value.strip() + "\n"
        else:
            headers[name.lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return status, headers, body


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out
