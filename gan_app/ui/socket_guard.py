"""Who may open one of the dashboard's own websockets, and how many may be open at once.

A route of the Streamlit app (`st.App(routes=...)`) that serves a websocket uses both:

    from gan_app.ui.socket_guard import ConnectionCap, admitted

    CAP = ConnectionCap(200, per_client_limit(), "live connections")

    async def socket(websocket: WebSocket) -> None:
        async with admitted(websocket, CAP) as ok:  # a foreign page: HTTP 403, no socket; the cap
            if not ok:                              # full: accepted, closed with 1013 "try again later"
                return
            while (text := await receive_small(websocket)) is not None:
                ...                            # at most MAX_MESSAGE_BYTES each; the slot is released

`origin_allowed(websocket)`: only a page served by this server may connect. Browsers always send
`Origin` on a websocket handshake and a page cannot change it, so a connection without one is
refused (a program that wants the stream sends the page's origin, as the emulated tabs of
`bench --viewers` do). The `Host` header is not trusted: with DNS rebinding a foreign page at
`http://evil.example:8501` has `evil.example` point at this machine, and then its `Host` and its
`Origin` agree. So the origin's host is compared with names the server knows itself, never with
the request:

- the address the connection arrived on (the socket's own local address, an IP: a tab that
  opened `http://192.168.1.20:8501` has that origin), and the loopback names `localhost`,
  `127.0.0.1`, `::1`, `0.0.0.0` when it arrived on a loopback address (a browser on this machine);
- this machine's host name (`socket.gethostname()`, also with `.local`);
- Streamlit's `server.address`, `browser.serverAddress` (the address users are told to open, set
  it when the class opens the dashboard by another name) and `server.allowedHosts` (exact names
  or `*.example.org`);

and its port with the port the connection arrived on or `browser.serverPort` (behind a proxy).
An origin listed in Streamlit's `server.corsAllowedOrigins` is allowed as it is.

`ConnectionCap(limit, per_client)`: a counter of open sockets, in all and per client address.
`try_acquire(client)` takes a slot if one is free, `release(client)` gives it back, `hold(client)`
does both around a block. The event loop runs every route on one thread, but the counter is
locked anyway, so a cap can be shared with any thread. One address may hold `per_client` sockets
of a kind (GAN_APP_SOCKETS_PER_CLIENT, default 8: a student's few tabs), so a script cannot take
the class's slots. The address is the connection's peer, or the X-Forwarded-For of a proxy on
this machine (uvicorn trusts it from a loopback peer only); a class that reaches the server
through one address (a school's NAT) needs the number raised.

Every message a client sends on these sockets is at most MAX_MESSAGE_BYTES of text
(`receive_small`); a larger one closes the socket with 1009.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
DEFAULT_PORTS = {"http": 80, "https": 443}
CLOSE_POLICY = 1008  # the websocket close code for a refused origin (when accepted at all)
CLOSE_TRY_LATER = 1013  # "try again later": every slot of the cap is taken
CLOSE_TOO_BIG = 1009  # a client's message over MAX_MESSAGE_BYTES
MAX_MESSAGE_BYTES = 1024  # what a tab sends on the dashboard's own sockets is a few dozen bytes
SOCKETS_PER_CLIENT = 8  # sockets of one kind per client address: a student's few tabs, not a script's hundreds
PER_CLIENT_ENV = "GAN_APP_SOCKETS_PER_CLIENT"  # raise it for a class that reaches the server through one address (NAT)


def _normal(host: str) -> str:
    """A host name or IP in one spelling: lower case, no trailing dot, IPv4-mapped IPv6 as IPv4."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback or host == "0.0.0.0"
    except ValueError:
        return host == "localhost"


def _streamlit_option(name: str) -> Any:
    from streamlit import config

    try:
        return config.get_option(name)
    except Exception:  # an option this Streamlit version does not have
        return None


def _configured_hosts() -> tuple[set[str], list[str]]:
    """Names the operator gave the server (exact names, and `*.suffix` patterns)."""
    from streamlit import config

    exact: set[str] = set()
    suffixes: list[str] = []
    address = _streamlit_option("server.address")
    if address:
        exact.add(_normal(str(address)))
    if config.is_manually_set("browser.serverAddress"):
        browser = str(_streamlit_option("browser.serverAddress") or "")
        if "//" in browser:  # given as a URL
            browser = urlsplit(browser).hostname or ""
        if browser:
            exact.add(_normal(browser))
    for host in _streamlit_option("server.allowedHosts") or []:
        host = str(host).strip()
        if host.startswith("*."):
            suffixes.append(_normal(host[1:]))  # ".example.org"
        elif host and host != "*":  # "*" accepts any Host; it says nothing about the origin
            exact.add(_normal(host))
    return exact, suffixes


def _own_names() -> set[str]:
    name = _normal(socket.gethostname())
    return {name, f"{name}.local"} if name else set()


def _allowed_ports(local_port: int | None) -> set[int]:
    ports = {local_port} if local_port else set()
    from streamlit import config

    if config.is_manually_set("browser.serverPort"):
        with contextlib.suppress(TypeError, ValueError):
            ports.add(int(_streamlit_option("browser.serverPort")))
    return ports


def origin_matches(origin: str | None, local_address: tuple[Any, Any] | None) -> bool:
    """The check of `origin_allowed`, given the `Origin` header and the connection's local
    (host, port) as the ASGI scope's "server" names it."""
    if not origin:
        return False
    if origin in set(_streamlit_option("server.corsAllowedOrigins") or []):
        return True
    try:
        parts = urlsplit(origin)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a malformed port
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return False
    local_host, local_port = (local_address or (None, None))[:2]
    if port not in _allowed_ports(local_port if isinstance(local_port, int) else None):
        return False
    host = _normal(parts.hostname)
    arrived = _normal(local_host) if isinstance(local_host, str) else None
    if host in LOOPBACK_NAMES:  # a page on this machine: its socket arrives on a loopback address
        return arrived is None or _is_loopback(arrived)
    if host == arrived or host in _own_names():
        return True
    exact, suffixes = _configured_hosts()
    return host in exact or any(host.endswith(suffix) for suffix in suffixes)


def origin_allowed(websocket: Any) -> bool:
    """Whether a websocket handshake (a Starlette `WebSocket`) comes from a page of this server.
    See the module's docstring for what counts as this server."""
    return origin_matches(websocket.headers.get("origin"), websocket.scope.get("server"))


async def refuse(websocket: Any, full: bool = False, reason: str = "") -> None:
    """Turn a handshake away. A foreign origin gets HTTP 403 and never a socket; a page of this
    server that finds the cap full gets a socket closed at once with code 1013 and `reason`,
    so its script can tell "full, try later" from "server down"."""
    if full:
        await websocket.accept()
        await websocket.close(code=CLOSE_TRY_LATER, reason=reason or "too many connections")
    else:
        await websocket.close(code=CLOSE_POLICY)


@contextlib.asynccontextmanager
async def admitted(websocket: Any, cap: "ConnectionCap") -> AsyncIterator[bool]:
    """A handshake checked for the block: True with the socket accepted and a slot of `cap` held
    until the block ends; False when it was turned away (a foreign origin, or the cap full)."""
    if not origin_allowed(websocket):
        await refuse(websocket)
        yield False
        return
    client = client_address(websocket)
    with cap.hold(client) as held:
        if not held:
            await refuse(websocket, full=True, reason=cap.refusal(client) or "no slot is free")
            yield False
            return
        await websocket.accept()
        yield True


OPEN_CAPS: dict[str, "ConnectionCap"] = {}  # the server's caps by kind: what the join card counts


def client_address(websocket: Any) -> str:
    """The address a connection comes from (uvicorn reads a local proxy's X-Forwarded-For)."""
    client = websocket.scope.get("client")
    return str(client[0]) if client else "unknown"


def env_count(name: str, default: int) -> int:
    """A whole number of sockets, at least 1, from the environment variable `name` (else
    `default`); UsageError with one line for anything else."""
    from gan_app.core.errors import UsageError

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number of sockets, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1, got {value}")
    return value


def per_client_limit() -> int:
    """Sockets of one kind that one client address may hold open: GAN_APP_SOCKETS_PER_CLIENT,
    else SOCKETS_PER_CLIENT."""
    return env_count(PER_CLIENT_ENV, SOCKETS_PER_CLIENT)


async def receive_small(websocket: Any, limit: int = MAX_MESSAGE_BYTES) -> str | None:
    """The next text a client sends on one of the dashboard's sockets; None when it closed. A
    message over `limit` bytes (or binary) closes the socket with 1009 and returns None."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None or len(text.encode()) > limit:
        await websocket.close(code=CLOSE_TOO_BIG, reason=f"messages are at most {limit} bytes of text")
        return None
    return text


class ConnectionCap:
    """At most `limit` holders at once, and at most `per_client` of them from one client;
    `what` names them in a refusal."""

    def __init__(self, limit: int, per_client: int | None = None, what: str = "connections") -> None:
        if limit < 1:
            raise ValueError(f"a connection cap needs a limit of at least 1, got {limit}")
        self.limit = limit
        self.per_client = per_client if per_client is not None else limit
        self.what = what
        self._open = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        """How many slots are taken now."""
        return self._open

    def refusal(self, client: str = "") -> str | None:
        """Why `client` would be refused a slot now (None: it would get one)."""
        if self._open >= self.limit:
            return f"all {self.limit} of the server's {self.what} are taken"
        if self._by_client.get(client, 0) >= self.per_client:
            return f"this address already has {self.per_client} {self.what} open"
        return None

    def try_acquire(self, client: str = "") -> bool:
        """Take a slot for `client` if one is free; False (and nothing taken) when all `limit`
        are, or `client` holds `per_client` already."""
        with self._lock:
            if self.refusal(client) is not None:
                return False
            self._open += 1
            self._by_client[client] = self._by_client.get(client, 0) + 1
            return True

    def release(self, client: str = "") -> None:
        """Give back a slot taken by `try_acquire(client)`."""
        with self._lock:
            if self._open <= 0 or self._by_client.get(client, 0) <= 0:
                raise RuntimeError("release() without a matching try_acquire()")
            self._open -= 1
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]

    @contextlib.contextmanager
    def hold(self, client: str = "") -> Iterator[bool]:
        """`with cap.hold(client) as admitted:` takes a slot if one is free (admitted is True) and
        gives it back when the block ends, however it ends."""
        admitted = self.try_acquire(client)
        try:
            yield admitted
        finally:
            if admitted:
                self.release(client)
