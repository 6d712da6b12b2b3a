"""The Learn page's live pictures, as one component (gan_app/ui/learn/web/): the running model's
diagram with its loss nodes, the losses as curves with the run's D(G(z)) marked, and one
iteration in slow motion. It shares the live channel's websocket protocol with the live panel,
so every tab follows the run (and the presenter's slow-motion sub-steps) with no page runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from gan_app.live.types import Snapshot
from gan_app.train.slowmo import SUB_STEPS
from gan_app.ui.live.channel import live_update
from gan_app.ui.live.panel import LIVE_SOCKET_JS, socket_path

WEB = Path(__file__).parent / "web"

HTML = """
<div class="learn">
  <div class="notice" data-l="notice" hidden></div>
  <h3>The GAN training now: <span data-l="preset"></span> <span class="tut">tutorials 002-004</span></h3>
  <div data-l="flow"></div>
  <div class="nets"><div data-l="G"></div><div data-l="D"></div></div>
  <h3>Why G's loss is non-saturating <span class="tut">tutorials 001-002</span></h3>
  <div class="curves-wrap"><div data-l="curves"></div>
    <div class="legend">
      <div><span class="sw" style="background:#e8590c"></span>G's minimax loss, log(1 − D(G(z))): flat where D rejects G's images</div>
      <div><span class="sw" style="background:#1c83e1"></span>G's non-saturating loss, −log D(G(z)): steep there</div>
      <div><span class="sw" style="background:#8338ec"></span>D's loss on a generated image, −log(1 − D(G(z)))</div>
      <p data-l="slopes"></p>
    </div></div>
  <h3>One iteration in slow motion <span class="tut">tutorials 001-002: Algorithm 1</span></h3>
  <div class="chips" data-l="chips"></div>
  <div class="slow-controls"><button data-l="next" hidden>Next sub-step</button><span class="dim" data-l="slowhint"></span></div>
  <div data-l="frame" hidden></div>
</div>
"""

_component = st.components.v2.component(
    "gan_app.learn_live", html=HTML, css=(WEB / "learn.css").read_text(),
    js=LIVE_SOCKET_JS + (WEB / "learn.js").read_text())


def learn_live(snap: Snapshot, diagram: dict[str, Any], diagram_key: str, can_control: bool,
               every: float = 1.0) -> str | None:
    """Mount the pictures with the page's snapshot and the model's diagram. Returns "next" in
    the page run a presenter's Next sub-step click caused, else None."""
    result: Any = _component(
        data={"path": socket_path(every, grid=False), "initial": {**live_update(snap), "grid": None}, "run": snap.run_id, "diagram": diagram,
              "diagram_key": diagram_key, "can_control": can_control, "sub_steps": [s[0] for s in SUB_STEPS]},
        key="learn_live",
        on_next_change=lambda: None,
        on_run_changed_change=lambda: None,  # a page run redraws the model
    )
    return "next" if getattr(result, "next", None) else None
