"""A drawing canvas (components v2, no iframe): white ink on black with the mouse, a pen or a
finger (pointer events). When a stroke ends, the drawing goes to Python as a PNG; Clear empties it."""

from __future__ import annotations

import base64
from typing import Any

import streamlit as st

SIDE = 280  # canvas pixels: ten per pixel of the 28x28 image it becomes

HTML = f"""
<div class="gan-canvas">
  <canvas width="{SIDE}" height="{SIDE}" data-canvas="pad" aria-label="drawing canvas: draw a digit"></canvas>
  <button type="button" data-canvas="clear">Clear</button>
</div>
"""

CSS = """
.gan-canvas { display: flex; flex-direction: column; align-items: flex-start; gap: 0.4rem; }
.gan-canvas canvas { background: black; border-radius: 0.4rem; touch-action: none; cursor: crosshair;
  width: 100%; max-width: 280px; aspect-ratio: 1; }
.gan-canvas button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.4rem; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, 0.2); background: transparent; color: inherit; }
"""

JS = """
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const pad = parentElement.querySelector('[data-canvas="pad"]');
  const ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "black"; ctx.fillRect(0, 0, pad.width, pad.height); };
  if (!pad.__ganReady) { clear(); pad.__ganReady = true; }
  ctx.strokeStyle = "white";
  ctx.lineWidth = data.pen;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  };
  let drawing = false;
  pad.onpointerdown = (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.1, y);
    ctx.stroke();
  };
  pad.onpointermove = (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  };
  const end = () => {
    if (!drawing) return;
    drawing = false;
    setStateValue("png", pad.toDataURL("image/png"));
  };
  pad.onpointerup = end;
  pad.onpointercancel = end;
  parentElement.querySelector('[data-canvas="clear"]').onclick = () => { clear(); setStateValue("png", null); };
  pad.dataset.ready = "1";  // strokes are heard from now on
}
"""

_component = st.components.v2.component("gan_app.canvas", html=HTML, css=CSS, js=JS)
_PREFIX = "data:image/png;base64,"


def drawing_canvas(key: str, pen: int = 18) -> bytes | None:
    """The canvas; the PNG bytes of the drawing after the last stroke, None while empty."""
    result: Any = _component(data={"pen": pen}, key=key, default={"png": None}, on_png_change=lambda: None)
    url = getattr(result, "png", None)
    if not isinstance(url, str) or not url.startswith(_PREFIX):
        return None
    try:
        return base64.b64decode(url[len(_PREFIX):], validate=True)
    except ValueError:
        return None
