"""The join card: the addresses students open, as text and as a QR code, large enough for a
projector, with how many tabs are watching. The presenter shows it on the Train page.

The addresses are this server's own: `browser.serverAddress` when the operator set it (the name
the class is told, a proxy's), and this machine's non-loopback IPv4 addresses, each with the
port the class reaches (`browser.serverPort` behind a proxy, else `server.port`) and the base
path. Nothing is looked up on the network."""

from __future__ import annotations

import contextlib
import fcntl
import io
import ipaddress
import socket
import struct
from html import escape
from typing import Iterable
from urllib.parse import urlsplit

import streamlit as st

from gan_app.ui.socket_guard import OPEN_CAPS
from gan_app.ui.url_base import base_path

SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
QR_SCALE = 12  # pixels per QR module: a 33-module code is about 400 px, readable across a room


def machine_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback and link-local, from its interfaces
    (and its host name), sorted."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
                found.add(socket.inet_ntoa(packed[20:24]))
    usable = [a for a in found if not (ipaddress.ip_address(a).is_loopback or ipaddress.ip_address(a).is_link_local)]
    return sorted(usable, key=ipaddress.ip_address)


def join_urls(hosts: Iterable[str], port: int, base: str = "", scheme: str = "http") -> list[str]:
    """The URLs students open: one per host (a name, or an IP), without a default port."""
    default = {"http": 80, "https": 443}.get(scheme)
    urls: list[str] = []
    for host in hosts:
        host = host.strip()
        if not host:
            continue
        shown = f"[{host}]" if ":" in host else host
        url = f"{scheme}://{shown}" + ("" if port == default else f":{port}") + base + "/"
        if url not in urls:
            urls.append(url)
    return urls


def class_urls() -> list[str]:
    """This server's join URLs: its announced address first, then this machine's addresses."""
    from streamlit import config

    port = int(config.get_option("server.port") or 8501)
    urls: list[str] = []
    if config.is_manually_set("browser.serverAddress"):
        announced = str(config.get_option("browser.serverAddress") or "")
        parts = urlsplit(announced if "//" in announced else f"//{announced}")
        public = int(config.get_option("browser.serverPort") or port) if config.is_manually_set(
            "browser.serverPort") else (parts.port or port)
        urls += join_urls([parts.hostname or ""], public, base_path(), parts.scheme or "http")
    return urls + [u for u in join_urls(machine_addresses(), port, base_path()) if u not in urls]


@st.cache_data(max_entries=8, show_spinner=False)
def qr_png(url: str) -> bytes:
    """`url` as a QR code (PNG, black on white, a quiet zone around it)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=QR_SCALE, border=4)
    return out.getvalue()


def connected_tabs() -> int:
    """Tabs holding one of the dashboard's own sockets now (a live view or a live lab)."""
    return sum(cap.open for cap in OPEN_CAPS.values())


@st.fragment(run_every=5)
def join_card() -> None:
    """The card itself, for the projector (the count of tabs follows every few seconds)."""
    urls = class_urls()
    if not urls:
        st.warning("This machine has no address other than loopback: students cannot reach it. Set "
                   "browser.serverAddress to the name the class opens.")
        return
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.image(qr_png(urls[0]), width=360, caption="Scan to join")
    with right:
        st.markdown("### Open in your browser")
        for url in urls:
            st.markdown(f"<div style='font-size:2.4rem;font-weight:600;word-break:break-all' "
                        f"data-join='url'>{escape(url)}</div>", unsafe_allow_html=True)
        tabs = connected_tabs()
        st.markdown(f"<div style='font-size:1.4rem;margin-top:1rem' data-join='tabs'>"
                    f"{tabs} {'tab' if tabs == 1 else 'tabs'} watching</div>", unsafe_allow_html=True)
