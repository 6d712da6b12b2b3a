"""The dashboard's own routes under Streamlit's `server.baseUrlPath`.

Behind a proxy that serves the dashboard at `https://school.example/gan/`, Streamlit serves its
pages under `/gan/`; the routes the app adds beside them (`st.App(routes=...)`: the live socket,
the lab's files and socket) are served both at their own path and under the prefix, and every
URL the pages hand to the browser carries the prefix."""

from __future__ import annotations

from typing import Any, Callable


def base_path() -> str:
    """"/prefix" for `server.baseUrlPath = "prefix"`, "" without one."""
    from streamlit import config

    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def at_base(path: str) -> str:
    """A route's path as the browser must ask for it."""
    return base_path() + path


def routes_at_base(make: Callable[[str], list[Any]]) -> list[Any]:
    """`make(prefix)` for "" and, when the server has one, its base path."""
    base = base_path()
    return make("") + (make(base) if base else [])
