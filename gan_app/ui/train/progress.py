"""The Train page's numbers and curves, as one component (gan_app/ui/train/web/progress.js):
drawn from the page's snapshot at once, then kept current by what the live panel's socket
brings (gan_app/ui/live/progress.py), with no page run. The figures are plotly's JSON, drawn by
plotly.js from the pinned plotly package (served at PLOTLY_PATH)."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from gan_app.live.types import Snapshot
from gan_app.ui.live.channel import PLOTLY_PATH
from gan_app.ui.live.panel import LIVE_HUB_JS
from gan_app.ui.live.progress import ChartView, encoded_progress, numbers
from gan_app.ui.url_base import at_base

WEB = Path(__file__).parent / "web"

HTML = """
<div class="gan-progress" data-p="root">
  <div class="gan-numbers" data-p="numbers"></div>
  <div class="gan-caption" data-p="empty">Loss curves appear once training starts.</div>
  <div class="gan-failed" data-p="failed" hidden></div>
  <div class="gan-chart" data-p="loss" hidden></div>
  <div class="gan-chart" data-p="d_output" hidden></div>
  <div class="gan-note" data-p="quality_note" hidden></div>
  <div class="gan-chart" data-p="fid" hidden></div>
  <div class="gan-caption" data-p="fid_caption"></div>
  <div class="gan-chart" data-p="histogram" hidden></div>
</div>
"""

CSS = """
.gan-progress [hidden] { display: none !important; }
.gan-numbers { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; margin-bottom: 0.75rem; }
.gan-number-label { font-size: 0.875rem; opacity: 0.8; }
.gan-number-value { font-size: 1.75rem; line-height: 1.3; font-variant-numeric: tabular-nums; white-space: nowrap; }
.gan-chart { width: 100%; margin-bottom: 0.5rem; }
.gan-caption { font-size: 0.875rem; opacity: 0.65; margin-bottom: 0.75rem; }
.gan-note, .gan-failed { padding: 0.75rem 1rem; border-radius: 0.5rem; margin-bottom: 0.5rem; background: rgba(28, 131, 225, 0.1); }
.gan-failed { background: rgba(255, 43, 43, 0.15); }
"""

# Not in a shadow root: plotly.js styles its charts (the mode bar, hover labels) from the page's head.
_component = st.components.v2.component("gan_app.progress", html=HTML, css=CSS, isolate_styles=False,
                                        js=LIVE_HUB_JS + (WEB / "progress.js").read_text())


def progress_panel(snap: Snapshot, view: ChartView) -> None:
    """The status numbers and the curves of `snap` as `view` asks, kept current by the live
    panel's socket (which must be asked for the same view: `live_panel(..., view=view)`)."""
    _, update, _ = encoded_progress(snap, view)
    _component(data={"plotly": at_base(PLOTLY_PATH), "numbers": numbers(snap), "sent": time.time(),
                     "progress": update, "view": view.query()}, key="progress")
