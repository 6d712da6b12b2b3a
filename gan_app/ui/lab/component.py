"""The browser lab as a Streamlit component (components v2, no iframe): a loader that imports
the lab's modules from the dashboard's own route (gan_app/ui/lab/routes.py) and hands them the
model version to draw. Every slider, strip and path then runs in the tab."""

from __future__ import annotations

from typing import Any

import streamlit as st

from gan_app.ui.lab.routes import MODELS, SOCKET, STATIC_BASE
from gan_app.ui.url_base import at_base

HTML = '<div class="gan-lab" data-lab="root"></div>'

CSS = """
.gan-lab { font-size: 0.95rem; }
.gan-lab [hidden] { display: none !important; }
.gan-lab .lab-status { font-size: 0.85rem; opacity: 0.7; margin-bottom: 0.5rem; }
.gan-lab .lab-row { display: flex; flex-wrap: wrap; gap: 0.75rem 1.25rem; align-items: center; margin: 0.4rem 0; }
.gan-lab .lab-cols { display: grid; grid-template-columns: minmax(220px, 2fr) 3fr; gap: 1.5rem; margin-top: 0.5rem; }
.gan-lab canvas { image-rendering: pixelated; display: block; }
.gan-lab .lab-main { width: 100%; max-width: 360px; aspect-ratio: 1; background: black; }
.gan-lab .lab-strip { width: 100%; cursor: pointer; margin: 0.2rem 0; }
.gan-lab .lab-grid { width: 100%; max-width: 420px; cursor: pointer; }
.gan-lab .lab-grid3 { width: 240px; cursor: pointer; }
.gan-lab .lab-walk { width: 168px; height: 168px; background: black; }
.gan-lab .lab-plot { width: 100%; max-width: 420px; }
.gan-lab .lab-caption { font-size: 0.85rem; opacity: 0.7; margin: 0.2rem 0; }
.gan-lab .lab-verdict { margin-top: 0.5rem; font-weight: 600; }
.gan-lab .lab-slider { display: grid; grid-template-columns: 9rem 1fr 3rem; gap: 0.5rem; align-items: center; }
.gan-lab .lab-map { width: 100%; max-width: 420px; cursor: crosshair; }
.gan-lab .lab-game { border: 1px solid rgba(128, 128, 128, 0.4); border-radius: 0.5rem; padding: 0.5rem 0.8rem; margin: 0.5rem 0; }
.gan-lab .lab-game h4 { margin: 0 0 0.3rem 0; }
.gan-lab .lab-game-card { width: 168px; height: 168px; background: black; margin: 0.3rem 0; }
.gan-lab .lab-follow { display: block; margin: 0.3rem 0; font-weight: 600; }
.gan-lab .lab-link { width: 100%; max-width: 36rem; font-size: 0.8rem; }
.gan-lab .lab-value { font-variant-numeric: tabular-nums; text-align: right; }
.gan-lab .lab-direction { margin-bottom: 0.6rem; }
.gan-lab .lab-tabs { display: flex; flex-wrap: wrap; gap: 0.25rem; margin-bottom: 0.6rem; }
.gan-lab button, .gan-lab select, .gan-lab input[type=number] { font: inherit; color: inherit; background: transparent;
  border: 1px solid rgba(128, 128, 128, 0.4); border-radius: 0.4rem; padding: 0.2rem 0.6rem; }
.gan-lab input[type=number] { width: 8rem; }
.gan-lab button { cursor: pointer; }
.gan-lab button.on { border-color: #ff4b4b; color: #ff4b4b; }
.gan-lab .lab-digits button { min-width: 2rem; }
.gan-lab details { margin-top: 1rem; }
.gan-lab summary { cursor: pointer; font-weight: 600; font-size: 1.1rem; }
"""

JS = """
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const root = parentElement.querySelector('[data-lab="root"]');
  root.__onFail = (message) => setStateValue("failed", message);
  import(new URL(data.base + "lab.js", window.location.href).href)
    .then((lab) => lab.render(root, data))
    .catch((err) => { root.dataset.failed = String(err); root.textContent = "The lab could not load: " + err; setStateValue("failed", String(err)); });
}
"""

_component = st.components.v2.component("gan_app.lab", html=HTML, css=CSS, js=JS)


def browser_lab(key: str, step: int | None, live: bool, point: dict[str, Any] | None,
                class_points: list[dict[str, Any]], link_model: str | None = None,
                lead_token: str | None = None, game_token: str | None = None) -> str | None:
    """The lab drawn in this tab for model version `key`; the tab's message when it could not
    run the generator (None while it runs). `link_model`: how the tab's URL names the generator;
    `lead_token`: the presenter's, on the presenter's page while Present is on (the tab leads);
    `game_token`: on a presenter's page, the lab shows the class's Real or fake? curve."""
    result: Any = _component(
        data={"base": at_base(STATIC_BASE), "models": at_base(MODELS + "/"), "socket": at_base(SOCKET), "key": key,
              "step": step, "live": live, "point": point, "class_points": class_points, "link_model": link_model,
              "lead_token": lead_token, "game_token": game_token},
        key="lab_browser", default={"failed": None}, on_failed_change=lambda: None)
    failed = getattr(result, "failed", None)
    return failed if isinstance(failed, str) else None


# Find in latent space, run in the tab (gan_app/ui/lab/web/find.js) with the model version the lab
# draws: the result, or why the tab could not search, comes back as this component's state.
FIND_JS = """
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const root = parentElement.querySelector('[data-find="root"]');
  if (root.dataset.request === String(data.request)) return;  // this search is running or done
  root.dataset.request = String(data.request);
  const url = (name) => new URL(data.base + name, window.location.href).href;
  Promise.all([import(url("runtime.js")), import(url("model.js")), import(url("find.js"))])
    .then(async ([runtime, models, finder]) => {
      const tf = await runtime.loadTf(data.base);
      await runtime.loadGradients(data.base);
      const model = await models.loadModel(tf, data.models, data.key);
      const found = await finder.find(model, Float32Array.from(data.target), {
        onStep: (i, n) => { root.textContent = `Searching in this tab: step ${i} of ${n}...`; },
      });
      root.textContent = "";
      setStateValue("found", { request: data.request, ...found, backend: tf.getBackend() });
    })
    .catch((err) => {
      root.textContent = "";
      setStateValue("found", { request: data.request, failed: String(err && err.message || err) });
    });
}
"""

_find_component = st.components.v2.component(
    "gan_app.lab_find", html='<div class="gan-find" data-find="root">Searching in this tab...</div>',
    css=".gan-find { font-size: 0.85rem; opacity: 0.7; }", js=FIND_JS)


def browser_find(key: str, request: int, target01: list[float]) -> dict[str, Any] | None:
    """Search `target01` (784 floats) in model version `key`'s latent space in this tab. The
    answer to `request` once the tab has it ({z, digit, image, mse, seconds} or {failed}), else None."""
    result: Any = _find_component(
        data={"base": at_base(STATIC_BASE), "models": at_base(MODELS + "/"), "key": key, "request": request,
              "target": target01},
        key="lab_find_browser", default={"found": None}, on_found_change=lambda: None)
    found = getattr(result, "found", None)
    return found if isinstance(found, dict) and found.get("request") == request else None
