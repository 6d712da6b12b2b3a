"""The live panel: the newest sample grid, a status line and the run's message, kept current by the
live channel's websocket (no Python runs for it once the page is drawn). When the run changes
state (Start, Pause, Reset... from any tab) it asks for one page run, so the controls offer what
the new state allows (again if that run drew another state, or never came). If the socket drops
(a server restart), it reconnects, and asks for one page run once it hears from the server again
(a new server knows none of the page's callbacks until the page has run there); after
MAX_REFUSED refused tries in a row (the server down, full, or refusing this page's origin) it
stops and says so, until the tab's next page run or a reload."""

from __future__ import annotations

from typing import Any

import streamlit as st

from gan_app.live.types import Snapshot
from gan_app.ui.live.channel import SOCKET_PATH, live_update
from gan_app.ui.live.progress import ChartView
from gan_app.ui.pick import CELLS_CSS, CELLS_JS
from gan_app.ui.socket_guard import CLOSE_POLICY, CLOSE_TRY_LATER
from gan_app.ui.url_base import at_base

MAX_REFUSED = 3  # refused connections in a row before the panel stops trying and says so
RETRY_MS = 2000  # wait before the next try, times the refusals so far
# A run state still not drawn this long after asking for a page run is asked for again, each time
# waiting twice as long, up to MAX_ASK_AGAIN_MS (a page that always draws another state, as behind
# a proxy that sends the panel's socket to another replica than the page, costs little).
ASK_AGAIN_MS, MAX_ASK_AGAIN_MS = 5000, 60_000

HTML = """
<div class="gan-live">
  <div class="gan-line" data-live="line"></div>
  <div class="gan-message warning" data-live="notice" hidden></div>
  <div class="gan-message" data-live="message" hidden></div>
  <div class="gan-empty" data-live="empty">Press <b>Start</b> (or a Step button): the 5x5 grid of samples from one
    fixed noise batch appears here.</div>
  <div class="gan-wrap"><img class="gan-grid" data-live="grid" alt="the live grid of generated samples: click one to explore it"
    title="Click a sample to explore it in the latent lab" hidden><div class="gan-cells" data-live="cells" hidden></div></div>
  <div class="gan-caption" data-live="caption"></div>
</div>
"""

CSS = CELLS_CSS + """
.gan-live { font-family: inherit; }
.gan-line { font-size: 1.1rem; font-weight: 600; margin-bottom: 0.5rem; font-variant-numeric: tabular-nums; }
.gan-grid { width: 100%; image-rendering: pixelated; display: block; border-radius: 0.25rem; }
.gan-caption { font-size: 0.875rem; opacity: 0.65; text-align: center; margin-top: 0.25rem; }
.gan-empty { padding: 1rem; border-radius: 0.5rem; background: rgba(28, 131, 225, 0.1); }
.gan-message { padding: 0.75rem 1rem; border-radius: 0.5rem; margin-bottom: 0.5rem; }
.gan-message.info { background: rgba(28, 131, 225, 0.1); }
.gan-message.warning { background: rgba(255, 193, 7, 0.2); }
.gan-message.error { background: rgba(255, 43, 43, 0.15); }
"""

# One websocket per mounted panel on the live channel, kept across page runs: `panel.show` gets
# every update. Any component that shows the live run uses it (the Learn page's too).
LIVE_SOCKET_JS = f"""
const MAX_REFUSED = {MAX_REFUSED}, RETRY_MS = {RETRY_MS}, FULL = {CLOSE_TRY_LATER}, POLICY = {CLOSE_POLICY};
""" + """
function keepLive(panel, path, notice) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  const connect = () => {
    const socket = new WebSocket(url);
    let opened = false;
    socket.onopen = () => { opened = true; };
    socket.onmessage = (event) => {
      panel.refused = 0;
      if (panel.dropped) {  // back after a drop: perhaps another server (restarted, or a replica behind a proxy)
        panel.dropped = false;
        if (panel.onReconnect) panel.onReconnect();
      }
      panel.show(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (panel.socket !== socket) return;  // replaced or unmounted on purpose
      panel.dropped = true;
      // Refused: never opened (a foreign page, the server down) or told the view is full.
      const refused = !opened || event.code === FULL || event.code === POLICY;
      panel.refused = refused ? panel.refused + 1 : 0;
      if (panel.refused >= MAX_REFUSED) {
        panel.socket = null;  // stop; the next page run of this tab tries again
        panel.stopped = true;
        notice.textContent = event.code === FULL
          ? `The live view is not shown: ${event.reason || "the server has too many viewers"}. Reload this page later to watch it.`
          : "The live view lost its connection to the server. Reload this page to try again.";
        notice.hidden = false;
        return;
      }
      setTimeout(() => { if (panel.socket === socket) panel.socket = connect(); }, RETRY_MS * Math.max(1, panel.refused));
    };
    return socket;
  };
  if (panel.url !== url || panel.stopped) {
    const old = panel.socket;
    panel.url = url;
    panel.refused = 0;
    panel.stopped = false;
    notice.hidden = true;
    panel.socket = connect();
    if (old) old.close();
  }
}

function dropLive(parentElement, panel) {
  if (!parentElement.isConnected && panel.socket) {
    const socket = panel.socket;
    panel.socket = null;
    panel.url = null;
    socket.close();
  }
}
"""

# The tab's one copy of every update the panel's socket brings, for the other components of the
# page that show the run (the Train page's numbers and curves): an "update" event per message,
# and the latest of each kind in `last`.
LIVE_HUB_JS = """
function liveHub() {
  if (!window.__ganLiveHub) {
    window.__ganLiveHub = new EventTarget();
    window.__ganLiveHub.last = {};
  }
  return window.__ganLiveHub;
}
"""

# Mounted again on every page run: keep one socket per panel, and show the newest update.
JS = CELLS_JS + LIVE_SOCKET_JS + LIVE_HUB_JS + f"""
const ASK_AGAIN_MS = {ASK_AGAIN_MS}, MAX_ASK_AGAIN_MS = {MAX_ASK_AGAIN_MS};
""" + """
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const el = (name) => parentElement.querySelector(`[data-live="${name}"]`);
  const panel = parentElement.__ganLive || (parentElement.__ganLive = { socket: null, url: null, asked: null, wait: ASK_AGAIN_MS, grid: null, refused: 0, stopped: false });
  if (data.shown !== panel.shown) panel.asked = null;  // a state asked for before may differ from this one again
  panel.shown = data.shown;
  el("grid").onclick = (event) => {
    const g = panel.grid;
    if (g) setTriggerValue("picked", { run: g.run, step: g.step, index: cellAt(el("grid"), event, g.rows, g.cols) });
  };
  const hub = liveHub();
  const show = (u) => {
    hub.last[u.kind || "live"] = u;  // every other part of the page that shows the run takes it from here
    hub.dispatchEvent(new CustomEvent("update", { detail: u }));
    if (u.kind === "progress") return;
    el("line").textContent = u.line;
    const msg = el("message");
    msg.hidden = !u.message;
    msg.className = "gan-message " + u.message_kind;
    msg.textContent = u.message;
    if (u.grid) {
      const img = el("grid");
      img.src = u.grid;
      img.hidden = false;
      el("empty").hidden = true;
      el("caption").textContent = u.caption;
      panel.grid = { run: u.run, step: u.grid_step, scores: u.scores, cols: u.columns, rows: u.rows };
    } else if (u.grid_step < 0) {
      panel.grid = null;
      el("grid").hidden = true;
      el("grid").removeAttribute("src");
      el("empty").hidden = false;
      el("caption").textContent = "";
    }
    drawCells(el("cells"), panel.grid && !el("grid").hidden ? panel.grid.scores : [], panel.grid ? panel.grid.cols : 5, data.show_scores);
    consider(u);
  };
  // Ask for a page run once per state this page did not draw, and again while no page run drew
  // it (that run drew an older state than the push that asked for it, or failed): on a timer, as
  // a run that stands still pushes nothing more.
  const consider = (u) => {
    const state = u.run + ":" + u.status, now = Date.now();
    clearTimeout(panel.again);
    if (state === panel.shown) {
      panel.wait = ASK_AGAIN_MS;
      return;
    }
    if (panel.asked !== state || now - panel.askedAt >= panel.wait) {
      if (panel.asked === state) panel.wait = Math.min(2 * panel.wait, MAX_ASK_AGAIN_MS);
      panel.asked = state;
      panel.askedAt = now;
      setTriggerValue("state_changed", state);
    }
    panel.again = setTimeout(() => consider(u), panel.askedAt + panel.wait - now);
  };
  panel.show = show;
  // A server that has not run this tab's page yet does not know its buttons' callbacks, so the
  // first click there would be lost: one page run registers them.
  panel.onReconnect = () => setTriggerValue("reconnected", Date.now());
  show(data.initial);
  keepLive(panel, data.path, el("notice"));
  return () => {
    clearTimeout(panel.again);
    dropLive(parentElement, panel);
  };
}
"""

_component = st.components.v2.component("gan_app.live_panel", html=HTML, css=CSS, js=JS)


def socket_path(every: float, grid: bool = True, view: ChartView | None = None) -> str:
    """The live channel's URL for a tab: updates every `every` seconds, with the grid or without,
    and with a `view` the Train page's curves as it asks for them."""
    return at_base(f"{SOCKET_PATH}?every={every:g}" + ("" if grid else "&grid=0")
                   + ("" if view is None else "&" + view.query()))


def live_panel(snap: Snapshot, every: float, show_scores: bool = False,
               view: ChartView | None = None) -> dict[str, int] | None:
    """Mount the panel with the page's snapshot (so it shows at once) and its socket. Returns the
    sample clicked in the page run that click caused ({run, step, index}), None otherwise.
    `show_scores`: frame each sample with D's verdict (this tab only). `view`: the socket brings
    the Train page's curves too (gan_app/ui/train/progress.py shows them)."""
    result: Any = _component(
        data={"path": socket_path(every, view=view), "initial": live_update(snap), "shown": f"{snap.run_id}:{snap.status}",
              "show_scores": show_scores},
        key="live_panel",
        on_state_changed_change=lambda: None,  # a page run is all the panel asks for
        on_reconnected_change=lambda: None,
        on_picked_change=lambda: None,
    )
    return getattr(result, "picked", None)
