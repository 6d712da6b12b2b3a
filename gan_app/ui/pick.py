"""Pick a sample by clicking it: an image of samples in rows and columns (a grid, a strip) whose
clicks tell Python which sample, optionally framed by what D thinks of each one.

One small Streamlit component (components v2, no iframe). The live panel uses the same cell
overlay and click mapping (CELLS_JS) for the live grid."""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from gan_app.core.images import data_url

# Shared by this component and the live panel: the cell under a click, and D's verdict drawn
# over each cell (a green frame where D calls the fake real, red where it spots it).
CELLS_JS = """
const cellAt = (img, event, rows, cols) => {
  const r = img.getBoundingClientRect();
  const col = Math.min(cols - 1, Math.max(0, Math.floor((event.clientX - r.left) / r.width * cols)));
  const row = Math.min(rows - 1, Math.max(0, Math.floor((event.clientY - r.top) / r.height * rows)));
  return row * cols + col;
};
const drawCells = (layer, scores, cols, show) => {
  layer.replaceChildren();
  layer.hidden = !(show && scores && scores.length);
  if (layer.hidden) return;
  layer.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
  layer.style.gridTemplateRows = `repeat(${Math.ceil(scores.length / cols)}, 1fr)`;
  for (const p of scores) {
    const cell = document.createElement("div");
    cell.className = "gan-cell " + (p >= 0.5 ? "real" : "fake");
    cell.dataset.score = p.toFixed(2);
    const label = document.createElement("span");
    label.textContent = p.toFixed(2);
    cell.appendChild(label);
    layer.appendChild(cell);
  }
};
"""

CELLS_CSS = """
.gan-wrap [hidden] { display: none !important; }
.gan-wrap { position: relative; cursor: pointer; }
.gan-cells { position: absolute; inset: 0; display: grid; pointer-events: none; }
.gan-cell { border: 2px solid; box-sizing: border-box; display: flex; align-items: flex-end; justify-content: flex-end; }
.gan-cell.real { border-color: #2e7d32; }
.gan-cell.fake { border-color: #c62828; }
.gan-cell span { font-size: 0.7rem; line-height: 1; padding: 1px 2px; color: white; font-variant-numeric: tabular-nums; }
.gan-cell.real span { background: #2e7d32; }
.gan-cell.fake span { background: #c62828; }
"""

HTML = """
<div class="gan-wrap"><img class="gan-pick" alt="" data-pick="img"><div class="gan-cells" data-pick="cells" hidden></div></div>
<div class="gan-pick-caption" data-pick="caption"></div>
"""

CSS = CELLS_CSS + """
.gan-pick { width: 100%; image-rendering: pixelated; display: block; }
.gan-pick-caption { font-size: 0.875rem; opacity: 0.65; text-align: center; margin-top: 0.25rem; }
"""

JS = CELLS_JS + """
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const img = parentElement.querySelector('[data-pick="img"]');
  img.src = data.src;
  img.alt = data.alt;
  img.style.maxWidth = data.width ? data.width + "px" : "";
  parentElement.querySelector('[data-pick="caption"]').textContent = data.caption;
  drawCells(parentElement.querySelector('[data-pick="cells"]'), data.scores, data.cols, data.scores !== null);
  img.onclick = (event) => setTriggerValue("picked", cellAt(img, event, data.rows, data.cols));
}
"""

_component = st.components.v2.component("gan_app.pick", html=HTML, css=CSS, js=JS)


def pick_image(png: bytes, rows: int, cols: int, key: str, caption: str = "", width: int | None = None,
               scores: Sequence[float] | None = None) -> int | None:
    """Show `png` (rows x cols samples); the index (row by row) of the sample clicked in the page
    run that click caused, None otherwise. `scores`: D's verdict framed over each sample."""
    result: Any = _component(
        data={"src": data_url(png), "rows": rows, "cols": cols, "caption": caption, "width": width,
              "alt": caption or "samples: click one to explore it",
              "scores": None if scores is None else [float(s) for s in scores]},
        key=key,
        on_picked_change=lambda: None,  # a page run is all a click asks for
    )
    picked = getattr(result, "picked", None)
    return None if picked is None else int(picked)
