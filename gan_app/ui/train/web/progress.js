// The Train page's numbers and curves. The live panel's socket brings them (gan_app/ui/live/
// channel.py): the status numbers with every live update, the figures (plotly's JSON) every few
// seconds when they changed; this component takes both from the tab's live hub (liveHub in
// gan_app/ui/live/panel.py) and draws the figures with plotly.js, loaded once per tab from the
// dashboard's own route. No page run is needed for any of it.

const COLORWAY = ["#1c83e1", "#ff4b4b", "#29b09d", "#ffa421", "#803df5", "#7defa1"];
const FIGURES = ["loss", "d_output", "fid", "histogram"];

function loadPlotly(url) {
  if (!window.__ganPlotly) {
    window.__ganPlotly = new Promise((resolve, reject) => {
      if (window.Plotly) return resolve(window.Plotly);
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error("plotly.js did not load")));
      script.onerror = () => reject(new Error("plotly.js could not be fetched"));
      document.head.appendChild(script);
    });
    window.__ganPlotly.catch(() => { window.__ganPlotly = null; });  // the next page run tries again
  }
  return window.__ganPlotly;
}

// A figure made for no theme, drawn in the page's: its text colour, no backgrounds.
export function themed(figure, color) {
  const axis = (a) => ({ ...(a || {}), gridcolor: "rgba(128, 128, 128, 0.2)", zerolinecolor: "rgba(128, 128, 128, 0.35)" });
  return {
    ...figure.layout,
    paper_bgcolor: "rgba(0, 0, 0, 0)",
    plot_bgcolor: "rgba(0, 0, 0, 0)",
    font: { color, family: "inherit" },
    colorway: COLORWAY,
    xaxis: axis(figure.layout.xaxis),
    yaxis: axis(figure.layout.yaxis),
    autosize: true,
  };
}

// The status row: one box per [label, value, help], made once, updated in place.
export function showNumbers(root, rows) {
  for (const [label, value, help] of rows) {
    let box = root.querySelector(`[data-label="${label}"]`);
    if (!box) {
      box = document.createElement("div");
      box.className = "gan-number";
      box.dataset.label = label;
      box.innerHTML = '<div class="gan-number-label"></div><div class="gan-number-value"></div>';
      box.firstChild.textContent = label;
      root.appendChild(box);
    }
    box.title = help;
    box.lastChild.textContent = value;
  }
}

export default function (component) {
  const { parentElement, data } = component;
  const el = (name) => parentElement.querySelector(`[data-p="${name}"]`);
  const state = parentElement.__ganProgress || (parentElement.__ganProgress = { numbersSent: 0, progress: null });
  const hub = liveHub();
  if (state.view !== data.view) {  // the tab asked for other smoothing: the curves shown so far are not it
    state.view = data.view;
    state.progress = null;
  }

  const numbers = (rows, sent) => {
    if (sent < state.numbersSent) return;  // an older one than shown
    state.numbersSent = sent;
    showNumbers(el("numbers"), rows);
  };
  const draw = (Plotly) => {
    const u = state.progress;
    const color = getComputedStyle(el("root")).color;
    for (const name of FIGURES) {
      const div = el(name), figure = u[name];
      div.hidden = !figure;
      if (figure) Plotly.react(div, figure.data, themed(figure, color), { displaylogo: false, responsive: true });
      else Plotly.purge(div);
    }
    el("failed").hidden = true;  // plotly.js loaded after all (a later page run tried again)
    el("root").dataset.drawn = String(u.sent);  // what the tests wait for
  };
  const progress = (u) => {
    if (u.view !== data.view || (state.progress && u.sent < state.progress.sent)) return;  // another view, or older
    state.progress = u;
    el("empty").hidden = u.started;
    el("fid_caption").textContent = u.fid_caption;
    el("quality_note").textContent = u.quality_note;
    el("quality_note").hidden = !u.quality_note;
    loadPlotly(data.plotly).then(draw).catch((err) => {
      el("failed").textContent = `The curves could not be drawn (${err.message}). Reload the page to try again.`;
      el("failed").hidden = false;
    });
  };

  numbers(data.numbers, data.sent);
  progress(data.progress);
  for (const u of [hub.last.live, hub.last.progress]) {  // newer than the page's, if the socket brought any
    if (u && u.kind === "progress") progress(u);
    else if (u && u.numbers) numbers(u.numbers, u.sent);
  }
  if (state.listener) hub.removeEventListener("update", state.listener);
  state.listener = (event) => {
    const u = event.detail;
    if (u.kind === "progress") progress(u);
    else if (u.numbers) numbers(u.numbers, u.sent);
  };
  hub.addEventListener("update", state.listener);
  return () => {
    if (!parentElement.isConnected) hub.removeEventListener("update", state.listener);
  };
}
